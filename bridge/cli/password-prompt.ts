// Reads a password for `tributary passwd`: from the terminal without echo (asked twice), or the
// first line of stdin when it is a pipe, so that scripts can make hashes too.
import { UsageError } from '../../broker/errors.js';

export async function readPassword(): Promise<string> {
  const password = process.stdin.isTTY ? await askTwice() : await firstLineOfStdin();
  if (password === '') throw new UsageError('an empty password is not accepted');
  return password;
}

async function askTwice(): Promise<string> {
  const first = await askHidden('Password: ');
  const second = await askHidden('Again: ');
  if (first !== second) throw new UsageError('the passwords do not match');
  return first;
}

function askHidden(prompt: string): Promise<string> {
  process.stderr.write(prompt);
  const stdin = process.stdin;
  stdin.setRawMode(true);
  stdin.resume();
  return new Promise((resolve, reject) => {
    let typed = '';
    const done = (): void => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onData);
      process.stderr.write('\n');
    };
    const onData = (chunk: Buffer): void => {
      for (const char of chunk.toString('utf8')) {
        if (char === '\r' || char === '\n') return done(), resolve(typed);
        if (char === '\u0003') return done(), reject(new UsageError('interrupted'));
        if (char === '\u007f' || char === '\b') typed = typed.slice(0, -1);
        else typed += char;
      }
    };
    stdin.on('data', onData);
  });
}

async function firstLineOfStdin(): Promise<string> {
  let text = '';
  for await (const chunk of process.stdin) {
    text += (chunk as Buffer).toString('utf8');
    if (text.includes('\n')) break;
  }
  return text.split(/\r?\n/)[0] ?? '';
}
