#!/usr/bin/env bash
# Renders a `--report` HTML page in headless Chromium to a PNG of the whole page:
#
#   tools/render_report.sh REPORT.html OUT.png [WIDTH]
#
# WIDTH is the window's width in CSS pixels (default 1400: two charts side by side);
# the height is the page's full height. This is how docs/images/report.png is made.
#
# Needs Chromium (Debian: `apt-get install chromium`) and python3, which talks to it
# over the DevTools protocol on a pipe (no network port, no Python packages). Without
# either it prints one line saying so and exits 0 with "skipped", so CI can call it.
set -euo pipefail

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
    echo "usage: $0 REPORT.html OUT.png [WIDTH]" >&2
    exit 2
fi
report=$1
out=$2
width=${3:-1400}
if [ ! -f "$report" ]; then
    echo "error: $report: no such file (write one with --report $report)" >&2
    exit 1
fi
if ! [[ $width =~ ^[0-9]+$ ]] || [ "$width" -lt 320 ] || [ "$width" -gt 4000 ]; then
    echo "error: width $width: give a number of pixels from 320 to 4000" >&2
    exit 2
fi
out_dir=$(dirname -- "$out")
if [ ! -d "$out_dir" ]; then
    echo "error: $out: the directory $out_dir does not exist" >&2
    exit 1
fi
browser=""
for candidate in chromium chromium-browser google-chrome; do
    if command -v "$candidate" >/dev/null 2>&1; then
        browser=$(command -v "$candidate")
        break
    fi
done
if [ -z "$browser" ]; then
    echo "skipped: Chromium is not installed (Debian: apt-get install chromium); $out not written"
    exit 0
fi
if ! command -v python3 >/dev/null 2>&1; then
    echo "skipped: python3 is not installed (it drives Chromium); $out not written"
    exit 0
fi

profile=$(mktemp -d)
trap 'rm -rf -- "$profile"' EXIT
url="file://$(realpath -- "$report")"

status=0
python3 - "$browser" "$profile" "$url" "$out" "$width" <<'PY' || status=$?
"""Drives headless Chromium over --remote-debugging-pipe (fd 3: commands, fd 4:
replies, each message JSON ended by a NUL byte): open the page at the given width,
wait for it to load, measure its full height, screenshot it all."""
import base64, fcntl, json, math, os, select, subprocess, sys, time

browser, profile, url, out, width = sys.argv[1:6]
width = int(width)


def pipe():
    """A pipe whose ends are above fd 9, clear of the 3 and 4 the browser reads."""
    ends = os.pipe()
    moved = tuple(fcntl.fcntl(end, fcntl.F_DUPFD_CLOEXEC, 10) for end in ends)
    for end in ends:
        os.close(end)
    return moved


to_browser_r, to_browser_w = pipe()
from_browser_r, from_browser_w = pipe()


# The browser's end of each pipe becomes its fd 3 and fd 4 (bash does the moving: sh cannot name fds above 9).
wire = f'exec "$@" 3<&{to_browser_r} 4>&{from_browser_w} {to_browser_r}<&- {from_browser_w}>&-'
process = subprocess.Popen(
    ["bash", "-c", wire, "bash", browser, "--headless=new", "--no-sandbox", "--disable-gpu",
     "--hide-scrollbars", "--no-first-run", "--no-default-browser-check",
     "--disable-extensions", "--mute-audio", "--user-data-dir=" + profile,
     "--remote-debugging-pipe", "about:blank"],
    pass_fds=(to_browser_r, from_browser_w),
    stdout=subprocess.DEVNULL, stderr=open(os.path.join(profile, "browser.log"), "w"))
os.close(to_browser_r)
os.close(from_browser_w)
buffered = b""
next_id = 0
deadline = time.monotonic() + 90


def message():
    """The next message from the browser."""
    global buffered
    while b"\0" not in buffered:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([from_browser_r], [], [], left)[0]:
            sys.exit("error: Chromium did not answer within 90 s")
        chunk = os.read(from_browser_r, 1 << 20)
        if not chunk:
            sys.exit("error: Chromium exited before the screenshot was taken")
        buffered += chunk
    raw, buffered = buffered.split(b"\0", 1)
    return json.loads(raw)


def send(method, session=None, **params):
    """Sends a command and returns its result (events meanwhile are dropped)."""
    global next_id
    next_id += 1
    command = {"id": next_id, "method": method, "params": params}
    if session:
        command["sessionId"] = session
    os.write(to_browser_w, json.dumps(command).encode() + b"\0")
    while True:
        reply = message()
        if reply.get("id") == next_id:
            if "error" in reply:
                sys.exit(f"error: Chromium refused {method}: {reply['error']}")
            return reply["result"]


def wait_for(event):
    while message().get("method") != event:
        pass


target = send("Target.createTarget", url="about:blank")["targetId"]
session = send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
send("Page.enable", session)
send("Emulation.setDeviceMetricsOverride", session, width=width, height=900,
     deviceScaleFactor=1, mobile=False)
send("Page.navigate", session, url=url)
wait_for("Page.loadEventFired")
size = send("Page.getLayoutMetrics", session)["cssContentSize"]
height = math.ceil(size["height"])
send("Emulation.setDeviceMetricsOverride", session, width=width, height=height,
     deviceScaleFactor=1, mobile=False)
shot = send("Page.captureScreenshot", session, format="png", captureBeyondViewport=True,
            clip={"x": 0, "y": 0, "width": width, "height": height, "scale": 1})
with open(out + ".tmp", "wb") as f:
    f.write(base64.b64decode(shot["data"]))
os.replace(out + ".tmp", out)
try:
    send("Browser.close")
except SystemExit:
    pass
process.wait(timeout=30)
print(f"{out}: {width}×{height} pixels")
PY
if [ "$status" -ne 0 ]; then
    echo "Chromium's last words (D-Bus complaints left out):" >&2
    grep -v -i dbus "$profile/browser.log" | tail -n 5 >&2 || true
    exit "$status"
fi
