/* Attaches bench/trace/floor.bpf.o, prints "ready", and holds it until stdin closes. */
#include <stdio.h>
#include <bpf/libbpf.h>

int main(int argc, char **argv)
{
	struct bpf_object *obj = bpf_object__open_file(argc > 1 ? argv[1] : "floor.bpf.o", NULL);
	if (!obj || bpf_object__load(obj)) {
		fprintf(stderr, "floor: cannot load the program\n");
		return 1;
	}
	struct bpf_program *prog = bpf_object__next_program(obj, NULL);
	if (!prog || !bpf_program__attach(prog)) {
		fprintf(stderr, "floor: cannot attach the program\n");
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	while (getchar() != EOF)
		;
	bpf_object__close(obj);
	return 0;
}
