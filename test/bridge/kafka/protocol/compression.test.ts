// Kafka's record codecs as Produce decodes them: each codec's real encoder (node:zlib, snappy raw
// and in xerial's framing, an LZ4 frame, the zstd command) round-trips; bombs are refused before
// their memory is taken; corrupt bytes only ever give a DecompressionError; an id that names no
// codec is 'unsupported'.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { compressSync as snappyCompressSync } from 'snappy';
import { DecompressionError } from '../../../../bridge/kafka/errors.js';
import { decompress } from '../../../../bridge/kafka/protocol/compression.js';
import { CODEC_IDS, compress, type TestCodec } from '../../../helpers/client-batch.js';
import { fuzzSeed, Rng } from '../../../helpers/fuzz.js';

const CODECS: TestCodec[] = ['gzip', 'snappy', 'snappy-xerial', 'lz4', 'zstd'];
const MiB = 1 << 20;

function isProblem(problem: string) {
  return (err: unknown) => err instanceof DecompressionError && err.problem === problem && err.code === 'TRIB_KAFKA_DECOMPRESSION';
}

test('each codec decodes what its real encoder wrote, text and random bytes, up to the limit exactly', async () => {
  const text = Buffer.from(Array.from({ length: 5000 }, (_, i) => `{"sensor":"s-${i % 17}","t":${i}}`).join('\n'));
  const noise = randomBytes(200_000);
  for (const codec of CODECS) {
    for (const data of [text, noise, Buffer.alloc(1)]) {
      const out = await decompress(CODEC_IDS[codec], compress(codec, data), data.length);
      assert.ok(out.equals(data), `${codec}, ${data.length} bytes`);
    }
  }
});

test('a bomb is refused as too large, naming the limit, for every codec; one just under the limit decodes', async () => {
  const zeros = Buffer.alloc(64 * MiB);
  for (const codec of CODECS) {
    const bomb = compress(codec, zeros);
    assert.ok(bomb.length < zeros.length / 16, `${codec}: ${bomb.length} bytes`);
    await assert.rejects(decompress(CODEC_IDS[codec], bomb, 4 * MiB), (err: unknown) => isProblem('too-large')(err) && /kafka\.maxUncompressedBytes \(4194304 bytes\)/.test((err as Error).message), codec);
  }
  const almost = Buffer.alloc(4 * MiB - 1);
  for (const codec of CODECS) assert.equal((await decompress(CODEC_IDS[codec], compress(codec, almost), 4 * MiB)).length, almost.length, codec);
});

test('a snappy or zstd header that claims more than the limit is refused before anything is decoded', async () => {
  // Raw snappy: a preamble of 2^32 - 1 bytes and nothing after it.
  await assert.rejects(decompress(2, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]), MiB), (err: unknown) => isProblem('too-large')(err) && /claims 4294967295 bytes/.test((err as Error).message));
  // zstd: a window of 2 GiB (exponent 21), where a decoder would allocate the window first.
  const frame = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 21 << 3, 0x01, 0x00, 0x00]);
  await assert.rejects(decompress(4, frame, MiB), isProblem('too-large'));
  // xerial chunks whose claims add up past the limit.
  const chunk = snappyCompressSync(Buffer.alloc(600 * 1024));
  const length = Buffer.alloc(4);
  length.writeInt32BE(chunk.length);
  const xerial = Buffer.concat([Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0, 0, 0, 0, 1, 0, 0, 0, 1]), length, chunk, length, chunk]);
  await assert.rejects(decompress(2, xerial, MiB), isProblem('too-large'));
});

test('corrupt compressed bytes give a DecompressionError, never another error or more than the limit (seeded, bounded)', async () => {
  const seed = fuzzSeed();
  const rng = new Rng(seed);
  const random = () => rng.next() / 0x1_0000_0000;
  const data = Buffer.from(Array.from({ length: 2000 }, (_, i) => `reading ${i} of sensor ${i % 7}`).join(';'));
  for (const codec of CODECS) {
    const good = compress(codec, data);
    for (let i = 0; i < 150; i++) {
      const bad = Buffer.from(good);
      const flips = 1 + Math.floor(random() * 4);
      for (let f = 0; f < flips; f++) {
        const at = Math.floor(random() * bad.length);
        bad[at] = bad[at]! ^ (1 << Math.floor(random() * 8));
      }
      const cut = random() < 0.2 ? bad.subarray(0, Math.floor(random() * bad.length)) : bad;
      try {
        const out = await decompress(CODEC_IDS[codec], cut, 2 * data.length);
        assert.ok(out.length <= 2 * data.length);
      } catch (err) {
        assert.ok(err instanceof DecompressionError, `${codec} case ${i} (FUZZ_SEED=${seed}): ${String(err)}`);
        assert.ok(err.problem === 'corrupt' || err.problem === 'too-large', `${codec} case ${i} (FUZZ_SEED=${seed}): ${err.problem}`);
      }
    }
    assert.ok((await decompress(CODEC_IDS[codec], good, data.length)).equals(data), `${codec} still decodes after the corrupt ones`);
  }
});

test('a codec id Kafka does not define (0 is none, 5-7 nothing) is unsupported', async () => {
  for (const codec of [0, 5, 6, 7]) await assert.rejects(decompress(codec, Buffer.from('x'), MiB), isProblem('unsupported'), `codec ${codec}`);
});
