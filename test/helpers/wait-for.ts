/** Polls until `condition` holds; gives up after 15 s so that a broken build fails instead of hanging. */
export async function waitFor(condition: () => boolean, what = 'condition'): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what} not met within 15 s`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
