/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lt-confine: the launcher `ltrack agent -- CMD` runs in place of CMD when Landlock prevention is
 * asked for. It restricts itself with Landlock to the allowlists' paths, then execs CMD: the
 * restriction is inherited by CMD and everything it starts, and the kernel refuses (EACCES) an
 * exec or a read outside it instead of the agent killing after the fact. Written in C because the
 * restriction must be applied between fork and exec, where Node runs no code; linked statically so
 * that it maps no library the allowlists would have to name.
 *
 *   lt-confine [-r PATH]... [-l DIR]... [-x PATH]... -- CMD [ARGS...]
 *     -r PATH  read: a file, or everything beneath a folder (READ_FILE, and READ_DIR for folders)
 *     -l DIR   list that folder and the folders beneath it (READ_DIR only)
 *     -x PATH  execute and read (programs, their interpreter, libraries)
 *   lt-confine --probe   prints the Landlock ABI version; exit 0 when Landlock is enabled
 *
 * Only executing, reading files and listing folders are handled: writes are not restricted here.
 * A path that does not exist is skipped (nothing can be opened there). Any other failure exits 126
 * with one line on stderr and CMD never runs: the command is never started unconfined.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define HANDLED \
	(LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)
/* rights a rule on a regular file may carry (the kernel refuses folder rights there) */
#define FILE_RIGHTS (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE)

static int fail(const char *what, const char *path)
{
	fprintf(stderr, "lt-confine: %s%s%s: %s\n", what, path ? " " : "", path ? path : "",
		strerror(errno));
	return 126;
}

static int add_rule(int ruleset, const char *path, __u64 rights)
{
	int fd = open(path, O_PATH | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ENOTDIR || errno == EACCES ? 0 : -1;
	struct stat st;
	if (fstat(fd, &st)) {
		close(fd);
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		rights &= FILE_RIGHTS;
	if (!rights) {
		close(fd);
		return 0;
	}
	struct landlock_path_beneath_attr attr = { .allowed_access = rights, .parent_fd = fd };
	int rc = (int)syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &attr, 0);
	close(fd);
	return rc;
}

int main(int argc, char **argv)
{
	int abi =
		(int)syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
	if (argc == 2 && strcmp(argv[1], "--probe") == 0) {
		if (abi < 1)
			return fail("Landlock is not available", NULL);
		printf("%d\n", abi);
		return 0;
	}
	if (abi < 1)
		return fail("Landlock is not available", NULL);
	struct landlock_ruleset_attr ra = { .handled_access_fs = HANDLED };
	int ruleset = (int)syscall(SYS_landlock_create_ruleset, &ra, sizeof(ra), 0);
	if (ruleset < 0)
		return fail("create the ruleset", NULL);
	int i = 1;
	for (; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (i + 1 >= argc) {
			errno = EINVAL;
			return fail("option without a path:", argv[i]);
		}
		__u64 rights;
		if (strcmp(argv[i], "-r") == 0)
			rights = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR;
		else if (strcmp(argv[i], "-l") == 0)
			rights = LANDLOCK_ACCESS_FS_READ_DIR;
		else if (strcmp(argv[i], "-x") == 0)
			rights = LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE;
		else {
			errno = EINVAL;
			return fail("unknown option", argv[i]);
		}
		if (add_rule(ruleset, argv[i + 1], rights))
			return fail("add a rule for", argv[i + 1]);
		i++;
	}
	if (i + 1 >= argc) {
		errno = EINVAL;
		return fail("nothing to run after --", NULL);
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return fail("set no_new_privs", NULL);
	if (syscall(SYS_landlock_restrict_self, ruleset, 0))
		return fail("restrict itself", NULL);
	close(ruleset);
	execvp(argv[i + 1], &argv[i + 1]);
	return fail("exec", argv[i + 1]);
}
