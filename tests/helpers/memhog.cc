// Allocates anonymous memory in 10 MiB steps, touching every page, and prints the step count after
// each one, so that a test can see how far it got before a memory limit stopped it. Stops by itself
// after 50 steps (500 MiB) so that a missing limit fails the test instead of exhausting the host.

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

int main() {
  constexpr size_t kStep = 10 * 1024 * 1024;
  for (int step = 1; step <= 50; ++step) {
    void* block = malloc(kStep);
    if (block == nullptr) {
      printf("malloc failed at step %d\n", step);
      return 1;
    }
    memset(block, step, kStep);
    printf("%d\n", step);
    fflush(stdout);
    usleep(50 * 1000);
  }
  printf("done\n");
  return 0;
}
