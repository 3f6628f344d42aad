#!/usr/bin/env bash
# A real Apache Kafka (KRaft, one node acting as broker and controller) on 127.0.0.1, for tests.
#
#   test/kafka/kafka.sh start   provisions Kafka from Maven Central (cached in ~/.m2 and in
#                               .kafka/lib), starts it on a free port, waits until it serves, and
#                               prints its state directory, then the bootstrap address last.
#   test/kafka/kafka.sh stop [DIR]   stops the node of DIR (default: every node this script started).
#   test/kafka/kafka.sh classpath   provisions the jars (Kafka's clients and kafka-tools) and prints
#                               their Java classpath, for tests that run the Java tools against
#                               another server (Tributary's Kafka endpoint).
#
# KAFKA_STATE_DIR picks the state directory for start (default: a new one under .kafka/run/).
# Optional listeners besides the PLAINTEXT one (the output stays the same; their addresses are
# written into the state directory):
#   KAFKA_SASL=1  a SASL_PLAINTEXT listener with PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512, user
#                 'tributary' / password 'tributary-secret'; address in DIR/sasl-bootstrap.
#   KAFKA_TLS=1   an SSL listener with a certificate for 127.0.0.1 and localhost from a CA made
#                 here (PEM keystore); address in DIR/tls-bootstrap, the CA in DIR/ca.pem.
# KAFKA_HOST=ADDR  the PLAINTEXT listener's (and the printed bootstrap's) address instead of
#                 127.0.0.1, e.g. a test network's bridge address that nodes in network namespaces
#                 reach (the controller stays on 127.0.0.1).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cache="$root/.kafka"

need() {
  command -v "$1" >/dev/null || { echo "kafka.sh: '$1' is missing; install $2 (Debian: apt-get install $2)" >&2; exit 3; }
}

# A port below the kernel's ephemeral range (ip_local_port_range), free now: the JVM binds it
# seconds later, and a port the kernel hands out (port 0) may meanwhile be taken by any outgoing
# connection; ports below the range are taken only by explicit binds. Reserved for this script's
# process as test/helpers/cli.ts reservePort does, so that test processes never hand out the same one.
free_port() {
  node -e "
    const fs = require('fs'), net = require('net'), path = require('path'), os = require('os');
    const owner = Number(process.argv[1]);
    const dir = path.join(os.tmpdir(), 'tributary-test-ports');
    const alive = (pid) => { try { process.kill(pid, 0); return true; } catch (e) { return e.code === 'EPERM'; } };
    const reserve = (port) => {
      fs.mkdirSync(dir, { recursive: true });
      const file = path.join(dir, String(port));
      for (let i = 0; i < 2; i++) {
        try { fs.writeFileSync(file, String(owner), { flag: 'wx' }); return true; } catch (e) { if (e.code !== 'EEXIST') throw e; }
        const holder = Number(fs.readFileSync(file, 'utf8'));
        if (holder > 0 && alive(holder)) return false;
        fs.rmSync(file, { force: true });
      }
      return false;
    };
    const low = Number(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\\s+/)[0]) || 0;
    const tryPort = (n) => {
      let port = 0;
      if (low > 11000 && n < 200) {
        port = 10000 + Math.floor(Math.random() * (low - 10000));
        if (!reserve(port)) return tryPort(n + 1);
      }
      const s = net.createServer();
      s.once('error', () => tryPort(n + 1));
      s.listen(port, '127.0.0.1', () => { console.log(s.address().port); s.close(); });
    };
    tryPort(0);
  " "$$"
}

provision() {
  need java openjdk-17-jre-headless
  need mvn maven
  if [[ ! -f "$cache/lib/.complete" || "$here/pom.xml" -nt "$cache/lib/.complete" ]]; then
    rm -rf "$cache/lib"
    mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies -DoutputDirectory="$cache/lib" >&2
    touch "$cache/lib/.complete"
  fi
}

start() {
  provision
  local dir=${KAFKA_STATE_DIR:-}
  if [[ -z $dir ]]; then mkdir -p "$cache/run"; dir=$(mktemp -d "$cache/run/node-XXXXXX"); fi
  mkdir -p "$dir/data"
  local port controller
  if [[ -f $dir/port ]]; then port=$(cat "$dir/port"); controller=$(cat "$dir/controller-port"); else
    port=$(free_port); controller=$(free_port)
    echo "$port" >"$dir/port"; echo "$controller" >"$dir/controller-port"
  fi
  local host=${KAFKA_HOST:-127.0.0.1}
  local listeners="PLAINTEXT://$host:$port,CONTROLLER://127.0.0.1:$controller"
  local advertised="PLAINTEXT://$host:$port"
  local extra="" format_extra=()
  if [[ ${KAFKA_SASL:-} == 1 ]]; then
    [[ -f $dir/sasl-port ]] || free_port >"$dir/sasl-port"
    local sasl_port; sasl_port=$(cat "$dir/sasl-port")
    listeners+=",SASL_PLAINTEXT://127.0.0.1:$sasl_port"; advertised+=",SASL_PLAINTEXT://127.0.0.1:$sasl_port"
    extra+="sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_tributary=\"tributary-secret\";
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
"
    format_extra+=(-S 'SCRAM-SHA-256=[name=tributary,password=tributary-secret]' -S 'SCRAM-SHA-512=[name=tributary,password=tributary-secret]')
    echo "127.0.0.1:$sasl_port" >"$dir/sasl-bootstrap"
  fi
  if [[ ${KAFKA_TLS:-} == 1 ]]; then
    need openssl openssl
    [[ -f $dir/tls-port ]] || free_port >"$dir/tls-port"
    local tls_port; tls_port=$(cat "$dir/tls-port")
    [[ -f $dir/server.pem ]] || make_certificates "$dir"
    listeners+=",SSL://127.0.0.1:$tls_port"; advertised+=",SSL://127.0.0.1:$tls_port"
    extra+="ssl.keystore.type=PEM
ssl.keystore.location=$dir/server.pem
"
    echo "127.0.0.1:$tls_port" >"$dir/tls-bootstrap"
  fi
  cat >"$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller
listeners=$listeners
advertised.listeners=$advertised
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL
${extra}inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
PROPS
  cat >"$dir/log4j2.properties" <<PROPS
rootLogger.level=WARN
rootLogger.appenderRef.file.ref=file
appender.file.type=File
appender.file.name=file
appender.file.fileName=$dir/kafka.log
appender.file.layout.type=PatternLayout
appender.file.layout.pattern=[%d] %p %m (%c)%n
PROPS
  local cp="$cache/lib/*"
  local jvm=(-Xms128m -Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto "-Dlog4j2.configurationFile=$dir/log4j2.properties")
  if [[ ! -f $dir/data/meta.properties ]]; then
    java "${jvm[@]}" -cp "$cp" kafka.tools.StorageTool format -t "$(java -cp "$cp" kafka.tools.StorageTool random-uuid 2>/dev/null)" \
      -c "$dir/server.properties" ${format_extra[@]+"${format_extra[@]}"} >"$dir/format.log" 2>&1 || { cat "$dir/format.log" >&2; exit 1; }
  fi
  nohup java "${jvm[@]}" -cp "$cp" kafka.Kafka "$dir/server.properties" >"$dir/stdout.log" 2>&1 &
  echo $! >"$dir/pid"
  # Serving = the broker has registered and answers a metadata request, not just an open port.
  for _ in $(seq 1 600); do
    if ! kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
      echo "kafka.sh: Kafka exited during start-up; its log:" >&2; tail -n 30 "$dir/kafka.log" "$dir/stdout.log" >&2; exit 1
    fi
    if java -Xshare:auto -XX:TieredStopAtLevel=1 -cp "$cp" "-Dlog4j2.configurationFile=$dir/log4j2.properties" \
      org.apache.kafka.tools.TopicCommand --bootstrap-server "$host:$port" --list >/dev/null 2>&1; then
      echo "$dir"
      echo "$host:$port"
      return 0
    fi
    sleep 0.5
  done
  echo "kafka.sh: Kafka did not serve within 5 minutes" >&2; exit 1
}

# A CA and a server certificate for 127.0.0.1/localhost, key and chain in one PEM (Kafka's PEM keystore).
make_certificates() {
  local dir=$1
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=tributary-test-ca -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$dir/san.ext"
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial -days 2 -extfile "$dir/san.ext" -out "$dir/server.crt" 2>/dev/null
  openssl pkcs8 -topk8 -nocrypt -in "$dir/server.key" -out "$dir/server.pk8"
  cat "$dir/server.pk8" "$dir/server.crt" "$dir/ca.pem" >"$dir/server.pem"
}

stop_one() {
  local dir=$1
  [[ -f $dir/pid ]] || return 0
  local pid; pid=$(cat "$dir/pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$dir/pid"
  [[ ${KEEP_KAFKA_STATE:-} == 1 ]] || rm -rf "$dir"
}

case ${1:-} in
  start) start ;;
  classpath) provision; echo "$cache/lib/*" ;;
  stop)
    if [[ -n ${2:-} ]]; then stop_one "$2"; else for d in "$cache"/run/node-*; do [[ -d $d ]] && stop_one "$d"; done; fi ;;
  *) echo "usage: $0 start | stop [DIR] | classpath" >&2; exit 2 ;;
esac
