"""A WHIP publisher or WHEP viewer built on aiortc, driven by test/interop/aiortc.test.ts.

publish: sends a moving gradient (VP8 or H264, aiortc's own encoders) and a 440 Hz Opus tone
to a WHIP endpoint until a line "stop" (or end of input) arrives on stdin, then DELETEs.
play: pulls a WHEP stream and decodes it with aiortc until enough video and audio frames have
been decoded, then DELETEs and prints what it saw.

Progress goes to stdout as one JSON object a line ({"event": ...}), so the test can follow it.
Nothing here may contact a public address: no STUN server is configured (aiortc falls back to
a public one when `iceServers` is None) and ICE gathers on the loopback address only.
"""

import argparse
import asyncio
import fractions
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import aioice.ice
import aiortc.codecs.h264
import numpy
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
    VideoStreamTrack,
)
from aiortc.mediastreams import MediaStreamError
from av import AudioFrame, VideoFrame

# aioice skips 127.0.0.1 and gathers on every other interface; the server under test listens on
# loopback only, so gather there alone and nothing leaves the host.
aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]


def _encode_frame_honouring_pli(encode_frame):
    """aiortc 1.4's H264 encoder ignores `force_keyframe`, so a PLI never yields an IDR and a
    viewer that joins late waits for x264's next scheduled one (its default: 250 frames). A
    fresh encoder context starts with an IDR, which is how aiortc itself restarts on a bitrate
    change."""

    def wrapper(self, frame, force_keyframe):
        if force_keyframe:
            self.codec = None
        return encode_frame(self, frame, force_keyframe)

    return wrapper


if hasattr(aiortc.codecs.h264.H264Encoder, "_encode_frame"):
    aiortc.codecs.h264.H264Encoder._encode_frame = _encode_frame_honouring_pli(
        aiortc.codecs.h264.H264Encoder._encode_frame
    )

WIDTH, HEIGHT = 320, 240
AUDIO_RATE = 48000
AUDIO_SAMPLES = 960  # 20 ms


def emit(event, **fields):
    print(json.dumps({"event": event, **fields}), flush=True)


class GradientTrack(VideoStreamTrack):
    """A diagonal gradient that scrolls one step a frame: never blank, never static."""

    def __init__(self):
        super().__init__()
        ys, xs = numpy.mgrid[0:HEIGHT, 0:WIDTH]
        self._base = (xs + ys).astype(numpy.uint16)
        self._count = 0

    async def recv(self):
        pts, time_base = await self.next_timestamp()
        shift = self._count * 4
        self._count += 1
        image = numpy.empty((HEIGHT, WIDTH, 3), dtype=numpy.uint8)
        image[:, :, 0] = (self._base + shift) & 0xFF
        image[:, :, 1] = (self._base * 2 + shift) & 0xFF
        image[:, :, 2] = 255 - ((self._base + shift) & 0xFF)
        frame = VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts = pts
        frame.time_base = time_base
        return frame


class ToneTrack(MediaStreamTrack):
    """A 440 Hz sine at 48 kHz mono, paced in real time like aiortc's AudioStreamTrack."""

    kind = "audio"

    def __init__(self):
        super().__init__()
        self._start = None
        self._samples = 0

    async def recv(self):
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.time()
        else:
            wait = self._start + self._samples / AUDIO_RATE - time.time()
            await asyncio.sleep(wait)
        t = (numpy.arange(AUDIO_SAMPLES) + self._samples) / AUDIO_RATE
        pcm = (numpy.sin(2 * numpy.pi * 440 * t) * 8000).astype(numpy.int16)
        frame = AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = AUDIO_RATE
        frame.pts = self._samples
        frame.time_base = fractions.Fraction(1, AUDIO_RATE)
        self._samples += AUDIO_SAMPLES
        return frame


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


def without_audio_level(sdp):
    """The offer without its audio-level extmap.

    aiortc 1.4 offers extmap id 2 for abs-send-time on video and for audio-level on audio, yet
    parses every bundled packet with one transport-wide map where abs-send-time wins: a 1-byte
    audio-level element then raises struct.error and stops its receive loop for good (aiortc
    issues 745, 770 and 778; fixed upstream after 1.4). Leaving audio-level out keeps id 2
    unique.
    """
    lines = sdp.split("\r\n")
    kinds = []
    out = []
    for line in lines:
        if line.startswith("m="):
            kinds.append(line[2:].split(" ")[0])
        if kinds and kinds[-1] == "audio" and line.startswith("a=extmap:") and (
            line.endswith(" urn:ietf:params:rtp-hdrext:ssrc-audio-level")
        ):
            continue
        out.append(line)
    return "\r\n".join(out)


async def negotiate(pc, url, token, edit=None):
    """WHIP/WHEP (RFC 9725 §4.2): POST the complete offer, apply the 201's answer."""
    await pc.setLocalDescription(await pc.createOffer())
    offer = pc.localDescription.sdp if edit is None else edit(pc.localDescription.sdp)
    emit("offer", sdp=offer)
    loop = asyncio.get_running_loop()
    status, headers, text = await loop.run_in_executor(None, http, "POST", url, token, offer)
    if status != 201:
        raise RuntimeError(f"POST {url} -> {status}: {text}")
    emit("answer", sdp=text)
    await pc.setRemoteDescription(RTCSessionDescription(sdp=text, type="answer"))
    return urllib.parse.urljoin(url, headers["Location"])


async def delete(resource, token):
    loop = asyncio.get_running_loop()
    status, _, _ = await loop.run_in_executor(None, http, "DELETE", resource, token)
    emit("deleted", status=status)


def watch_state(pc, connected):
    @pc.on("connectionstatechange")
    def on_state():
        emit("state", state=pc.connectionState)
        if pc.connectionState == "connected" and not connected.done():
            connected.set_result(None)
        elif pc.connectionState == "failed" and not connected.done():
            connected.set_exception(RuntimeError("connection failed"))


def stop_requested():
    """Resolves when stdin says "stop" or closes."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    fd = sys.stdin.fileno()

    def on_readable():
        line = sys.stdin.readline()
        if (line == "" or line.strip() == "stop") and not done.done():
            loop.remove_reader(fd)
            done.set_result(None)

    loop.add_reader(fd, on_readable)
    return done


async def publish(args):
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    connected = asyncio.get_running_loop().create_future()
    watch_state(pc, connected)
    video = pc.addTransceiver(GradientTrack(), direction="sendonly")
    mime = "video/" + args.codec.upper()
    video.setCodecPreferences(
        [c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType == mime]
    )
    pc.addTransceiver(ToneTrack(), direction="sendonly")
    resource = None
    try:
        resource = await negotiate(pc, args.url, args.token)
        emit("location", url=resource)
        await asyncio.wait_for(connected, args.timeout)
        emit("connected")
        await asyncio.wait_for(stop_requested(), args.timeout)
    finally:
        if resource:
            await delete(resource, args.token)
        await pc.close()
        emit("closed")


async def count_frames(track, counts, kind, sizes):
    try:
        while True:
            frame = await track.recv()
            counts[kind] += 1
            if kind == "video":
                sizes.add((frame.width, frame.height))
    except MediaStreamError:
        pass


async def play(args):
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    connected = asyncio.get_running_loop().create_future()
    watch_state(pc, connected)
    counts = {"video": 0, "audio": 0}
    sizes = set()
    tasks = []

    @pc.on("track")
    def on_track(track):
        tasks.append(asyncio.ensure_future(count_frames(track, counts, track.kind, sizes)))

    pc.addTransceiver("video", direction="recvonly")
    pc.addTransceiver("audio", direction="recvonly")
    resource = None
    try:
        edit = without_audio_level if args.unique_extmap_ids else None
        resource = await negotiate(pc, args.url, args.token, edit)
        emit("location", url=resource)
        await asyncio.wait_for(connected, args.timeout)
        emit("connected")
        deadline = time.monotonic() + args.timeout
        while counts["video"] < args.video_frames or counts["audio"] < args.audio_frames:
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        emit(
            "decoded",
            video=counts["video"],
            audio=counts["audio"],
            sizes=sorted(list(s) for s in sizes),
        )
    finally:
        if resource:
            await delete(resource, args.token)
        await pc.close()
        for task in tasks:
            task.cancel()
        emit("closed")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=["publish", "play"])
    parser.add_argument("--url", required=True, help="WHIP or WHEP endpoint URL")
    parser.add_argument("--token", default=None, help="bearer token")
    parser.add_argument("--codec", choices=["vp8", "h264"], default="vp8")
    parser.add_argument("--video-frames", type=int, default=30)
    parser.add_argument("--audio-frames", type=int, default=50)
    parser.add_argument(
        "--unique-extmap-ids",
        action="store_true",
        help="play: offer no audio-level, so no extmap id names two extensions",
    )
    parser.add_argument("--timeout", type=float, default=20, help="seconds for each wait")
    args = parser.parse_args()
    try:
        asyncio.run(publish(args) if args.mode == "publish" else play(args))
    except Exception as error:  # noqa: BLE001 - report any failure to the test as one line
        emit("error", message=f"{type(error).__name__}: {error}")
        sys.exit(1)


if __name__ == "__main__":
    main()
