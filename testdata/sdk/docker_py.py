"""Docker's Python SDK (docker-py) through the proxy: build and events
decoded one JSON message at a time, and a container's wait. Run by
TestE2EPythonSDK with DOCKER_HOST set to the proxy; exits non-zero on the
first thing a user would see go wrong."""
import io
import os
import sys
import tarfile
import time

import docker

image, label, tag = os.environ["TEST_IMAGE"], os.environ["TEST_LABEL"], os.environ["TEST_TAG"]
client = docker.DockerClient(base_url=os.environ["DOCKER_HOST"], version="1.41", timeout=60)


def context(dockerfile):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = dockerfile.encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf


# build, decoded: each message a dict (this raised JSONDecodeError: Extra
# data when the proxy re-framed the stream).
since = int(time.time()) - 1
messages = list(client.api.build(fileobj=context("FROM %s\nRUN echo from-python-build\n" % image),
                                 custom_context=True, tag=tag, rm=True, decode=True, network_mode="none"))
text = "".join(m.get("stream", "") for m in messages)
errors = [m for m in messages if "error" in m]
if errors or "from-python-build" not in text or "Successfully tagged " + tag not in text:
    sys.exit("build: %r" % messages)
print("build: %d messages" % len(messages))

# wait: the exit code of a container that ran.
container = client.containers.create(image, ["sh", "-c", "exit 3"], labels={label.split("=")[0]: label.split("=")[1]},
                                     network_mode="none")
container.start()
result = container.wait(timeout=30)
container.remove()
if result.get("StatusCode") != 3:
    sys.exit("wait: %r" % result)
print("wait: %r" % result)

# events, decoded, over a closed window.
events = list(client.api.events(since=since, until=int(time.time()) + 1, filters={"label": label}, decode=True))
actions = [e.get("Action") for e in events]
if not all(isinstance(e, dict) for e in events) or "create" not in actions or "die" not in actions:
    sys.exit("events: %r" % events)
print("events: %s" % " ".join(actions))
