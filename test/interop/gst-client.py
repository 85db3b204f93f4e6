"""A WHIP publisher or WHEP viewer built on GStreamer's webrtcbin, driven by
test/interop/gstreamer.test.ts.

publish: videotestsrc (VP8 via vp8enc or H264 via x264enc) and an audiotestsrc tone (Opus) into
webrtcbin, POSTed to a WHIP endpoint, until a line "stop" (or end of input) arrives on stdin.
play: a recvonly webrtcbin offering VP8, H264 and Opus, POSTed to a WHEP endpoint; what arrives
goes through decodebin, and decoded video and audio buffers are counted.
Both DELETE their resource before they exit.

This stands in for simple-whip-client (Meetecho's webrtcbin-based WHIP client): Debian 12's
build links libsoup 2.4 while libnice pulls libsoup 3 in through gupnp-igd, and libsoup aborts
a process that loads both ("libsoup2 symbols detected"); and its libnice agent gathers no
loopback candidate on a host with other interfaces, with no flag to change that. HTTP here is
Python's own, so only GStreamer's WebRTC stack is under test: the same webrtcbin offer (later
m-lines `port 0` with `a=bundle-only` under max-bundle), libnice ICE, DTLS and SRTP.

Progress goes to stdout as one JSON object a line ({"event": ...}). Nothing here may contact a
public address: no STUN or TURN server is set, libnice's UPnP discovery is off, and libnice
gathers on the loopback address only (an agent given explicit local addresses uses those alone).
"""

import argparse
import ctypes
import json
import sys
import urllib.error
import urllib.parse
import urllib.request

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstSdp", "1.0")
gi.require_version("GstWebRTC", "1.0")
gi.require_version("Nice", "0.1")
from gi.repository import GLib, Gst, GstSdp, GstWebRTC, Nice  # noqa: E402

VIDEO_SOURCE = (
    "videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=30/1"
    " ! videoconvert ! queue"
)
ENCODERS = {
    "vp8": (
        " ! vp8enc deadline=1 keyframe-max-dist=30 target-bitrate=500000 ! rtpvp8pay pt=96"
        " ! application/x-rtp,media=video,encoding-name=VP8,payload=96,clock-rate=90000"
    ),
    "h264": (
        " ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 bitrate=500"
        " ! video/x-h264,profile=constrained-baseline"
        " ! rtph264pay pt=102 config-interval=-1 aggregate-mode=zero-latency"
        " ! application/x-rtp,media=video,encoding-name=H264,payload=102,clock-rate=90000"
    ),
}
AUDIO = (
    "audiotestsrc is-live=true wave=sine freq=440 ! audioconvert ! audioresample ! queue"
    " ! opusenc ! rtpopuspay pt=111"
    " ! application/x-rtp,media=audio,encoding-name=OPUS,payload=111,clock-rate=48000"
)
RECV_VIDEO_CAPS = (
    "application/x-rtp,media=video,encoding-name=VP8,payload=96,clock-rate=90000;"
    "application/x-rtp,media=video,encoding-name=H264,payload=102,clock-rate=90000,"
    "packetization-mode=(string)1,profile-level-id=(string)42e01f"
)
RECV_AUDIO_CAPS = "application/x-rtp,media=audio,encoding-name=OPUS,payload=111,clock-rate=48000"


def emit(event, **fields):
    print(json.dumps({"event": event, **fields}), flush=True)


def http(method, url, token=None, body=None):
    """One blocking HTTP request; returns (status, headers, text)."""
    headers = {}
    if body is not None:
        headers["Content-Type"] = "application/sdp"
    if token:
        headers["Authorization"] = "Bearer " + token
    data = body.encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read().decode()


def nice_agent(webrtc):
    """webrtcbin's libnice agent, to be set up before it gathers.

    GStreamer 1.22's webrtcbin hands out its `ice-agent` property without adding a reference,
    so the wrapper PyGObject drops would free the agent under webrtcbin: take that reference.
    """
    ice = webrtc.get_property("ice-agent")
    gobject = ctypes.CDLL("libgobject-2.0.so.0")
    gobject.g_object_ref.argtypes = [ctypes.c_void_p]
    gobject.g_object_ref.restype = ctypes.c_void_p
    pointer = ctypes.pythonapi.PyCapsule_GetPointer
    pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
    pointer.restype = ctypes.c_void_p
    gobject.g_object_ref(pointer(ice.__gpointer__, None))
    return ice.get_property("agent")


class Client:
    def __init__(self, args, pipeline, webrtc):
        self.args = args
        self.pipeline = pipeline
        self.webrtc = webrtc
        self.loop = GLib.MainLoop()
        self.resource = None
        self.exit_code = 0
        self.posted = False
        self.offered = False
        agent = nice_agent(webrtc)
        # libnice's default UPnP IGD discovery multicasts SSDP searches on every interface.
        agent.props.upnp = False
        loopback = Nice.Address.new()
        loopback.set_from_string("127.0.0.1")
        agent.add_local_address(loopback)
        webrtc.connect("on-negotiation-needed", self.on_negotiation_needed)
        webrtc.connect("notify::ice-gathering-state", self.on_gathering)
        webrtc.connect("notify::connection-state", self.on_connection_state)
        bus = pipeline.get_bus()
        bus.add_signal_watch()
        bus.connect("message::error", self.on_error)
        GLib.io_add_watch(sys.stdin, GLib.IO_IN | GLib.IO_HUP, self.on_stdin)
        GLib.timeout_add_seconds(int(args.timeout), self.on_timeout)

    def run(self):
        self.pipeline.set_state(Gst.State.PLAYING)
        self.loop.run()
        self.pipeline.set_state(Gst.State.NULL)
        return self.exit_code

    def finish(self, code=0):
        if self.resource:
            status, _, _ = http("DELETE", self.resource, self.args.token)
            emit("deleted", status=status)
            self.resource = None
        if code and not self.exit_code:
            self.exit_code = code
        self.loop.quit()
        emit("closed")
        return False

    def fail(self, message):
        emit("error", message=message)
        GLib.idle_add(self.finish, 1)

    def on_error(self, _bus, message):
        error, debug = message.parse_error()
        self.fail(f"{error.message} ({debug})")

    def on_timeout(self):
        self.fail("timed out")
        return False

    def on_stdin(self, source, condition):
        line = source.readline() if condition & GLib.IO_IN else ""
        if line == "" or line.strip() == "stop":
            GLib.idle_add(self.finish)
            return False
        return True

    def on_negotiation_needed(self, webrtc):
        # One offer: WHIP/WHEP has no renegotiation, and a second concurrent create-offer
        # can leave webrtcbin without a description.
        if self.offered:
            return
        self.offered = True
        promise = Gst.Promise.new_with_change_func(self.on_offer_created, webrtc, None)
        webrtc.emit("create-offer", None, promise)

    def on_offer_created(self, promise, webrtc, _data):
        promise.wait()
        reply = promise.get_reply()
        offer = reply.get_value("offer") if reply.has_field("offer") else None
        if offer is None:
            self.fail(f"create-offer: {reply.to_string()}")
            return
        webrtc.emit("set-local-description", offer, Gst.Promise.new())

    def on_gathering(self, webrtc, _pspec):
        # Non-trickle WHIP/WHEP (RFC 9725 §4.2): POST once every candidate is in the offer.
        if webrtc.props.ice_gathering_state == GstWebRTC.WebRTCICEGatheringState.COMPLETE:
            GLib.idle_add(self.post_offer)

    def post_offer(self):
        if self.posted:
            return False
        self.posted = True
        offer = self.webrtc.props.local_description.sdp.as_text()
        emit("offer", sdp=offer)
        status, headers, text = http("POST", self.args.url, self.args.token, offer)
        if status != 201:
            self.fail(f"POST {self.args.url} -> {status}: {text}")
            return False
        emit("answer", sdp=text)
        self.resource = urllib.parse.urljoin(self.args.url, headers["Location"])
        emit("location", url=self.resource)
        _, message = GstSdp.SDPMessage.new_from_text(text)
        answer = GstWebRTC.WebRTCSessionDescription.new(GstWebRTC.WebRTCSDPType.ANSWER, message)
        self.webrtc.emit("set-remote-description", answer, Gst.Promise.new())
        return False

    def on_connection_state(self, webrtc, _pspec):
        state = webrtc.props.connection_state
        emit("state", state=state.value_nick)
        if state == GstWebRTC.WebRTCPeerConnectionState.CONNECTED:
            emit("connected")
        elif state == GstWebRTC.WebRTCPeerConnectionState.FAILED:
            self.fail("connection failed")


def publish(args):
    description = (
        f"webrtcbin name=webrtc bundle-policy=max-bundle "
        f"{VIDEO_SOURCE}{ENCODERS[args.codec]} ! webrtc. "
        f"{AUDIO} ! webrtc."
    )
    pipeline = Gst.parse_launch(description)
    webrtc = pipeline.get_by_name("webrtc")
    # "get-transceivers" returns a GArray that PyGObject cannot read: walk them by index.
    index = 0
    while (transceiver := webrtc.emit("get-transceiver", index)) is not None:
        transceiver.props.direction = GstWebRTC.WebRTCRTPTransceiverDirection.SENDONLY
        index += 1
    return Client(args, pipeline, webrtc).run()


class Counter:
    """Counts decoded buffers of one kind after decodebin, and the video sizes seen."""

    def __init__(self):
        self.counts = {"video": 0, "audio": 0}
        self.sizes = set()

    def attach(self, pipeline, pad):
        decodebin = Gst.ElementFactory.make("decodebin")
        decodebin.connect("pad-added", self.on_decoded_pad, pipeline)
        pipeline.add(decodebin)
        decodebin.sync_state_with_parent()
        pad.link(decodebin.get_static_pad("sink"))

    def on_decoded_pad(self, _decodebin, pad, pipeline):
        caps = pad.get_current_caps() or pad.query_caps(None)
        kind = "video" if caps.get_structure(0).get_name().startswith("video/") else "audio"
        sink = Gst.ElementFactory.make("fakesink")
        sink.props.sync = False
        sink.props.signal_handoffs = True
        sink.connect("handoff", self.on_buffer, kind)
        pipeline.add(sink)
        sink.sync_state_with_parent()
        pad.link(sink.get_static_pad("sink"))

    def on_buffer(self, _sink, _buffer, pad, kind):
        self.counts[kind] += 1
        if kind == "video":
            structure = pad.get_current_caps().get_structure(0)
            self.sizes.add((structure.get_value("width"), structure.get_value("height")))


def play(args):
    pipeline = Gst.Pipeline.new("play")
    webrtc = Gst.ElementFactory.make("webrtcbin", "webrtc")
    webrtc.props.bundle_policy = GstWebRTC.WebRTCBundlePolicy.MAX_BUNDLE
    pipeline.add(webrtc)
    recvonly = GstWebRTC.WebRTCRTPTransceiverDirection.RECVONLY
    webrtc.emit("add-transceiver", recvonly, Gst.Caps.from_string(RECV_VIDEO_CAPS))
    webrtc.emit("add-transceiver", recvonly, Gst.Caps.from_string(RECV_AUDIO_CAPS))
    counter = Counter()
    webrtc.connect("pad-added", lambda _w, pad: counter.attach(pipeline, pad))
    client = Client(args, pipeline, webrtc)

    def check():
        if counter.counts["video"] >= args.video_frames and (
            counter.counts["audio"] >= args.audio_frames
        ):
            report()
            GLib.idle_add(client.finish)
            return False
        return True

    def report():
        emit(
            "decoded",
            video=counter.counts["video"],
            audio=counter.counts["audio"],
            sizes=sorted(list(s) for s in counter.sizes),
        )

    original_fail = client.fail

    def fail(message):
        report()
        original_fail(message)

    client.fail = fail
    GLib.timeout_add(50, check)
    return client.run()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=["publish", "play"])
    parser.add_argument("--url", required=True, help="WHIP or WHEP endpoint URL")
    parser.add_argument("--token", default=None, help="bearer token")
    parser.add_argument("--codec", choices=sorted(ENCODERS), default="vp8")
    parser.add_argument("--video-frames", type=int, default=30)
    parser.add_argument("--audio-frames", type=int, default=50)
    parser.add_argument("--timeout", type=float, default=20, help="seconds before giving up")
    args = parser.parse_args()
    Gst.init(None)
    sys.exit(publish(args) if args.mode == "publish" else play(args))


if __name__ == "__main__":
    main()
