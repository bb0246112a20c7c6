/* Compiles sandbox/seccomp/denied.txt into the classic-BPF seccomp program bwrap loads with
 * `--seccomp FD`: allow by default, EPERM for each listed system call, EPERM for clone() asking
 * for a new namespace, ENOSYS for clone3 (its flags live in memory a filter cannot read; glibc
 * then falls back to clone, as under Docker's profile), and kill for any other architecture's
 * system call numbers (x32, i386), which would bypass the list.
 * libseccomp does the encoding: hand-writing BPF jump tables is where filters go wrong.
 * Usage: compile DENIED.txt OUT.bpf */
#define _GNU_SOURCE /* the CLONE_NEW* flags */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: compile DENIED.txt OUT.bpf\n");
		return 2;
	}
	FILE *list = fopen(argv[1], "r");
	if (!list) {
		perror(argv[1]);
		return 1;
	}
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (!ctx || seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS) < 0) {
		fprintf(stderr, "seccomp: cannot initialise a filter\n");
		return 1;
	}
	char line[128];
	int n = 0;
	while (fgets(line, sizeof(line), list)) {
		line[strcspn(line, " \t\r\n#")] = 0;
		if (!line[0])
			continue;
		int nr = seccomp_syscall_resolve_name(line);
		if (nr == __NR_SCMP_ERROR)
			continue; /* not on this architecture */
		if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0) < 0) {
			fprintf(stderr, "seccomp: cannot add %s\n", line);
			return 1;
		}
		n++;
	}
	fclose(list);
	/* clone() with any namespace flag: one rule per flag (a masked compare tests one value) */
	static const unsigned long flags[] = { CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP, CLONE_NEWTIME };
	for (unsigned i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1, SCMP_A0(SCMP_CMP_MASKED_EQ, flags[i], flags[i])) < 0) {
			fprintf(stderr, "seccomp: cannot add the clone rule\n");
			return 1;
		}
	}
	if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0) < 0) {
		fprintf(stderr, "seccomp: cannot add the clone3 rule\n");
		return 1;
	}
	int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || seccomp_export_bpf(ctx, fd) < 0) {
		fprintf(stderr, "seccomp: cannot write %s\n", argv[2]);
		return 1;
	}
	close(fd);
	seccomp_release(ctx);
	printf("%d system calls denied\n", n);
	return 0;
}
