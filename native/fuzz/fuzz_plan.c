/* libFuzzer target for the plan decoder: any input must decode or fail cleanly, never crash or leak.
 * Built by scripts/fuzz.sh with clang -fsanitize=fuzzer,address,undefined. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../init/plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct plan p;
	char err[512];
	if (plan_decode(data, size, &p, err, sizeof(err)) == 0) {
		/* touch what the executor relies on: NUL-terminated strings, NULL-terminated argv */
		size_t n = strlen(p.rootfs) + strlen(p.hostname);
		for (uint32_t i = 0; i < p.process.args.n; i++)
			n += strlen(p.process.args.items[i]);
		if (p.process.args.items[p.process.args.n] != NULL || p.process.env.items[p.process.env.n] != NULL)
			__builtin_trap();
		for (uint32_t i = 0; i < p.n_mounts; i++)
			n += strlen(p.mounts[i].destination) + p.mounts[i].propagation.n;
		(void)n;
		plan_free(&p);
	} else if (err[0] == 0) {
		__builtin_trap(); /* a rejection must say why */
	}
	return 0;
}
