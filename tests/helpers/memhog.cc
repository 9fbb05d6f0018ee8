// Allocates anonymous memory in 10 MiB steps, touching every page, and prints the step count after
// each one, so that a test can see how far it got before a memory limit stopped it. Stops by itself
// after 50 steps (500 MiB) so that a missing limit fails the test instead of exhausting the host.
// usage: memhog [STEP_MIB (10)] [INTERVAL_MS (50)]; `memhog 10 1000` eats 10 MB a second.

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

int main(int argc, char** argv) {
  const size_t step_mib = argc > 1 ? strtoul(argv[1], nullptr, 10) : 10;
  const unsigned interval_ms = argc > 2 ? static_cast<unsigned>(strtoul(argv[2], nullptr, 10)) : 50;
  if (step_mib == 0) {
    fprintf(stderr, "memhog: STEP_MIB must be positive\n");
    return 2;
  }
  const size_t kStep = step_mib * 1024 * 1024;
  for (int step = 1; step <= 50; ++step) {
    void* block = malloc(kStep);
    if (block == nullptr) {
      printf("malloc failed at step %d\n", step);
      return 1;
    }
    memset(block, step, kStep);
    printf("%d\n", step);
    fflush(stdout);
    usleep(interval_ms * 1000);
  }
  printf("done\n");
  return 0;
}
