// The test suite's IAM evaluator: one Node process per batch (tests/iam_simulator.py runs it).
//
// stdin:  {"simulate": [request, ...], "validate": [{"kind": ..., "policy": {...}}, ...]}
// stdout: {"simulate": [result, ...], "validate": [[error, ...], ...]}
//
// A request:
//   {"principal": ARN, "action": "dynamodb:DeleteTable", "resource": ARN, "resource_account": "1234..."?,
//    "identity_policies": [doc, ...], "resource_policy": doc?, "scps": [[doc, ...] per level]?,
//    "rcps": [[doc, ...] per level]?, "context": {"aws:PrincipalArn": ..., ...}}
// SCP and RCP levels run from the organization root down to the account, as the library wants them;
// an absent or empty list means the principal's account is in no organization. RCPFullAWSAccess is
// added at every level by the library itself.
// A result: {"decision": "Allowed" | "ImplicitlyDenied" | "ExplicitlyDenied", "denials": [...],
//            "grants": [...], "ignored_context_keys": [...]} or {"error": message, "details": {...}}.
// A validation: kind is identity | resource | scp | rcp | trust; the answer is the list of
// "path: message" lines @cloud-copilot/iam-policy reports (empty when the policy is valid).

import {
  getDenialReasons,
  getGrantReasons,
  runSimulation,
} from '@cloud-copilot/iam-simulate'
import {
  validateIdentityPolicy,
  validateResourceControlPolicy,
  validateResourcePolicy,
  validateServiceControlPolicy,
  validateTrustPolicy,
} from '@cloud-copilot/iam-policy'

const VALIDATORS = {
  identity: validateIdentityPolicy,
  resource: validateResourcePolicy,
  scp: validateServiceControlPolicy,
  rcp: validateResourceControlPolicy,
  trust: validateTrustPolicy,
}

function accountOf(arn) {
  const parts = String(arn).split(':')
  return parts.length > 4 ? parts[4] : ''
}

function levels(prefix, docs) {
  return (docs || []).map((policies, level) => ({
    orgIdentifier: level === 0 ? 'r-root' : `${prefix}-level-${level}`,
    policies: policies.map((policy, index) => ({ name: `${prefix}-${level}-${index}`, policy })),
  }))
}

async function simulate(request) {
  const simulation = {
    request: {
      principal: request.principal,
      action: request.action,
      resource: {
        resource: request.resource,
        accountId: request.resource_account || accountOf(request.resource),
      },
      contextVariables: request.context || {},
    },
    identityPolicies: (request.identity_policies || []).map((policy, index) => ({
      name: `identity-${index}`,
      policy,
    })),
    serviceControlPolicies: levels('scp', request.scps),
    resourceControlPolicies: levels('rcp', request.rcps),
    resourcePolicy: request.resource_policy || undefined,
  }
  const response = await runSimulation(simulation, {})
  if (response.resultType === 'error') {
    return { error: response.errors.message, details: response.errors }
  }
  if (response.resultType !== 'single') {
    // A wildcard resource runs several simulations; our requests name one table.
    return { error: `expected one resource, the library ran a ${response.resultType} simulation` }
  }
  const analysis = response.result.analysis
  return {
    decision: response.overallResult,
    denials: response.overallResult === 'Allowed' ? [] : getDenialReasons(analysis),
    grants: response.overallResult === 'Allowed' ? getGrantReasons(analysis) : [],
    ignored_context_keys: response.result.ignoredContextKeys || [],
  }
}

function validate({ kind, policy }) {
  const validator = VALIDATORS[kind]
  if (!validator) {
    return [`unknown policy kind ${JSON.stringify(kind)}: one of ${Object.keys(VALIDATORS).join(', ')}`]
  }
  return validator(policy).map((error) => `${error.path}: ${error.message}`)
}

async function main() {
  const chunks = []
  for await (const chunk of process.stdin) chunks.push(chunk)
  const input = JSON.parse(Buffer.concat(chunks).toString('utf8'))
  const output = { simulate: [], validate: [] }
  for (const request of input.simulate || []) output.simulate.push(await simulate(request))
  for (const item of input.validate || []) output.validate.push(validate(item))
  process.stdout.write(JSON.stringify(output) + '\n')
}

main().catch((error) => {
  process.stderr.write(`error: ${error && error.stack ? error.stack : error}\n`)
  process.exit(2)
})
