package sentinel.eventruler;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import software.amazon.event.ruler.Machine;

/**
 * Reads {"pattern": {...} or "...", "events": [{...}, ...]} on stdin and prints {"matches": [bool, ...]}.
 *
 * <p>The pattern is compiled into one Machine (so a pattern Ruler refuses exits 2 with its reason
 * on stderr), and each event is matched with rulesForJSONEvent, the array-consistent matcher
 * EventBridge's semantics need (a field inside an array of objects matches per element).
 */
public final class Main {
    private static final String RULE = "pattern";

    private Main() {}

    public static void main(String[] args) throws IOException {
        ObjectMapper json = new ObjectMapper();
        JsonNode input;
        try (InputStream in = System.in) {
            input = json.readTree(in);
        }
        if (input == null || !input.has("pattern") || !input.path("events").isArray()) {
            fail("input must be {\"pattern\": ..., \"events\": [...]}");
        }
        JsonNode pattern = input.get("pattern");
        String patternText = pattern.isTextual() ? pattern.asText() : json.writeValueAsString(pattern);
        Machine machine = new Machine();
        try {
            machine.addRule(RULE, patternText);
        } catch (IOException | RuntimeException e) {
            fail("pattern refused: " + e.getMessage());
        }
        ArrayNode matches = json.createArrayNode();
        for (JsonNode event : input.get("events")) {
            try {
                matches.add(machine.rulesForJSONEvent(json.writeValueAsString(event)).contains(RULE));
            } catch (Exception e) { // rulesForJSONEvent declares Exception
                fail("event refused: " + e.getMessage());
            }
        }
        System.out.write(json.writeValueAsString(json.createObjectNode().set("matches", matches))
                .getBytes(StandardCharsets.UTF_8));
        System.out.println();
        System.out.flush();
    }

    private static void fail(String message) {
        System.err.println("error: " + message);
        System.exit(2);
    }
}
