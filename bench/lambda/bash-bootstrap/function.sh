# The tutorial's handler, minus its log line: echoes the event back.
function handler() {
    EVENT_DATA=$1
    RESPONSE="Echoing request: '$EVENT_DATA'"
    echo "$RESPONSE"
}
