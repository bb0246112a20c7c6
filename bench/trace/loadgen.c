/* Load generator for the tracer benchmark: N open/close pairs of one file, optionally paced to
 * RATE pairs per second, optionally waiting for a line on stdin first (so it can be traced
 * before it starts). Prints the loop's wall time and the process's CPU time (user + system, where
 * the kernel runs the tracer's programs) in nanoseconds: CPU time is what other jobs on a shared
 * machine disturb least. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static long long clock_ns(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long long now_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: loadgen N [RATE|0] [gate]\n");
		return 2;
	}
	long n = atol(argv[1]);
	long rate = argc > 2 ? atol(argv[2]) : 0;
	if (argc > 3) {
		char line[8];
		if (!fgets(line, sizeof(line), stdin))
			return 2;
	}
	long long t0 = now_ns(), c0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
	for (long i = 0; i < n; i++) {
		int fd = open("/etc/hostname", O_RDONLY);
		if (fd < 0)
			return 1;
		close(fd);
		/* pace in steps of 1000 pairs so the sleep granularity does not dominate */
		if (rate > 0 && i % 1000 == 999) {
			long long due = t0 + (i + 1) * 1000000000LL / rate;
			long long d = due - now_ns();
			if (d > 0)
				usleep(d / 1000);
		}
	}
	printf("%lld %lld\n", now_ns() - t0, clock_ns(CLOCK_PROCESS_CPUTIME_ID) - c0);
	return 0;
}
