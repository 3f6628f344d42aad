"""An MQTT 5.0 session with Eclipse Paho (Debian's python3-paho-mqtt), for the front-end tests.

Usage: paho-v5.py PORT USERNAME PASSWORD. Subscribes to paho/# and secret/#, publishes one message
with properties to paho/props at QoS 1, waits for it to come back, and prints one JSON line: the
SUBACK reason codes and the properties of the message received.
"""
import json
import sys
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

port, username, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
result = {}
connected, subscribed, received = threading.Event(), threading.Event(), threading.Event()


def on_connect(client, userdata, flags, reason_code, properties):
    result["connack"] = reason_code.value
    connected.set()


def on_subscribe(client, userdata, mid, reason_codes, properties):
    result["suback"] = [code.value for code in reason_codes]
    subscribed.set()


def on_message(client, userdata, message):
    p = message.properties
    result["message"] = {
        "topic": message.topic,
        "payload": message.payload.decode(),
        "contentType": getattr(p, "ContentType", None),
        "responseTopic": getattr(p, "ResponseTopic", None),
        "correlationData": getattr(p, "CorrelationData", b"").decode(),
        "userProperties": getattr(p, "UserProperty", []),
    }
    received.set()


client = mqtt.Client(client_id="paho-v5", protocol=mqtt.MQTTv5)
client.username_pw_set(username, password)
client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
client.connect("127.0.0.1", port)
client.loop_start()
assert connected.wait(10), "no CONNACK"
client.subscribe([("paho/#", 1), ("secret/#", 1)])
assert subscribed.wait(10), "no SUBACK"
props = Properties(PacketTypes.PUBLISH)
props.ContentType = "application/json"
props.ResponseTopic = "paho/reply"
props.CorrelationData = b"req-42"
props.UserProperty = [("site", "hall-3"), ("line", "7")]
client.publish("paho/props", '{"t":21.5}', qos=1, properties=props).wait_for_publish(10)
assert received.wait(10), "the message did not come back"
client.disconnect()
client.loop_stop()
print(json.dumps(result))
