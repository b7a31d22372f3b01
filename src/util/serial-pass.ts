// An async pass that never overlaps itself: a call while it runs asks for one more run right
// after it, however many calls came in (the scheduler's and the manifest service's pump).
export function serialPass(pass: () => Promise<void>, onError: (err: unknown) => void): () => void {
  let running = false;
  let again = false;
  const run = async (): Promise<void> => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    do {
      again = false;
      try {
        await pass();
      } catch (err) {
        onError(err);
      }
    } while (again);
    running = false;
  };
  return () => void run();
}
