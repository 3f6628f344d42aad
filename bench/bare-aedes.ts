// A bare aedes broker (memory persistence, no hooks, no log) on the port given as the first
// argument: the reference bench:ingest runs beside Tributary, to show what the MQTT core itself
// costs before anything is stored.
import { createServer } from 'node:net';
import { Aedes } from 'aedes';

const port = Number(process.argv[2]);
const broker = await Aedes.createBroker();
createServer(broker.handle).listen(port, '127.0.0.1');
