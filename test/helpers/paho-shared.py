"""A member of a shared subscription with Eclipse Paho (Debian's python3-paho-mqtt), MQTT 5.0.

Usage: paho-shared.py PORT FILTER. Subscribes to FILTER (a `$share/...` one) at QoS 1, prints
`ready` once the SUBACK grants it, then each message's payload on a line of its own, until its
standard input closes.
"""
import sys
import threading

import paho.mqtt.client as mqtt

port, topic = int(sys.argv[1]), sys.argv[2]
subscribed = threading.Event()


def on_subscribe(client, userdata, mid, reason_codes, properties):
    assert [code.value for code in reason_codes] == [1], reason_codes
    print("ready", flush=True)
    subscribed.set()


def on_message(client, userdata, message):
    print(message.payload.decode(), flush=True)


client = mqtt.Client(client_id="paho-share", protocol=mqtt.MQTTv5)
client.on_subscribe, client.on_message = on_subscribe, on_message
client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
client.connect("127.0.0.1", port)
client.loop_start()
assert subscribed.wait(10), "no SUBACK"
sys.stdin.read()
client.disconnect()
client.loop_stop()
