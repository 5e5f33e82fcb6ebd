#!/usr/bin/env bash
# Rebuild every shipped speech asset of switchboard from text.
#
# Requires espeak-ng (1.51+) and sox (14.4+), e.g. `apt-get install espeak-ng sox`.
# Run from anywhere: `bash assets/generate.sh`. Output (all 16-bit signed PCM, mono WAV):
#   audio/caller-booking.wav  16 kHz  caller (male en-us): 300 ms silence, speech, 1.5 s silence
#   audio/caller-message.wav  16 kHz  caller, same framing
#   audio/apology.wav          8 kHz  receptionist (female en-us+f3), played on model link loss
#   sim/*.wav                 24 kHz  receptionist replies used by the built-in model simulator
# espeak-ng's own leading/trailing silence is trimmed and pauses inside the text are capped at
# 200 ms (keeps the total under 1.5 MB), then the level is normalised to -3 dBFS peak, the audio
# is resampled, and the documented silence is padded on. Dither is off (-D): reruns are identical.
# The texts below are the single source of truth; tests read the files back and check rate and level.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

CALLER_VOICE="en-us"
RECEPTIONIST_VOICE="en-us+f3"
# Words per minute: the caller at a relaxed pace, the receptionist a little brisker.
CALLER_SPEED=165
RECEPTIONIST_SPEED=190

# say VOICE SPEED_WPM RATE_HZ LEAD_S TAIL_S OUT TEXT
say() {
    local voice="$1" speed="$2" rate="$3" lead="$4" tail="$5" out="$6" text="$7"
    mkdir -p "$(dirname "$out")"
    espeak-ng -v "$voice" -s "$speed" -w "$tmp/raw.wav" "$text"
    # Trim espeak's silence at both ends (below 0.5% of full scale; its onsets are far louder),
    # cap pauses inside the text at 200 ms, normalise, resample, pad the documented silence.
    sox -D "$tmp/raw.wav" -r "$rate" -c 1 -b 16 -e signed-integer "$out" \
        silence -l 1 0.02 0.5% -1 0.2 0.5% reverse silence 1 0.02 0.5% reverse \
        gain -n -3 rate -v "$rate" pad "$lead" "$tail"
    echo "$out: $(soxi -D "$out") s, $(stat -c %s "$out") bytes"
}

# Caller recordings (16 kHz, like a wideband capture), played into test calls.
say "$CALLER_VOICE" "$CALLER_SPEED" 16000 0.3 1.5 "$here/audio/caller-booking.wav" \
    "Hi, this is Dana Smith. I would like to book a teeth cleaning for next Tuesday morning, please."
say "$CALLER_VOICE" "$CALLER_SPEED" 16000 0.3 1.5 "$here/audio/caller-message.wav" \
    "Could you take a message for Doctor Lee? Please ask her to call me back this afternoon."

# Apology played by switchboard itself when the model link is lost (8 kHz, telephone rate).
say "$RECEPTIONIST_VOICE" "$RECEPTIONIST_SPEED" 8000 0.1 0.2 "$here/audio/apology.wav" \
    "I'm sorry, we are having technical trouble. Please call back in a few minutes. Goodbye."

# Built-in model simulator replies (24 kHz, the OpenAI Realtime PCM rate).
sim() { say "$RECEPTIONIST_VOICE" "$RECEPTIONIST_SPEED" 24000 0.03 0.08 "$here/sim/$1.wav" "$2"; }
sim greeting "Thanks for calling Acme Dental, this is the virtual receptionist. How can I help you today?"
sim booking "Happy to help with that. Let me check what is open on Tuesday morning."
sim booking-confirmed "You are all set. I have noted your request, and the office will confirm by text."
sim message-taken "I have taken your message, and Doctor Lee will call you back this afternoon."
sim fallback "Sorry, could you say that again?"
sim goodbye "Thank you for calling. Goodbye."

du -cb "$here"/audio/*.wav "$here"/sim/*.wav | tail -n 1
