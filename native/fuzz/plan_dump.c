/* plan-dump: decodes a plan from stdin and prints a few fields, one "name=value" per line, or
 * "error=<reason>" and exit 1. Test tool (test/unit/encode.test.ts) for the TS encoder and C decoder. */
#include <stdio.h>
#include <stdlib.h>

#include "../init/plan.h"

int main(void)
{
	static uint8_t buf[PLAN_MAX_SIZE + 1];
	size_t len = fread(buf, 1, sizeof(buf), stdin);
	struct plan p;
	char err[512];
	if (plan_decode(buf, len, &p, err, sizeof(err)) < 0) {
		printf("error=%s\n", err);
		return 1;
	}
	const struct plan_process *pr = &p.process;
	printf("mode=%u\nforeground=%d\ncloneFlags=0x%x\njoins=%u\nuidMaps=%u\nhostname=%s\nrootfs=%s\n", p.mode,
	       p.foreground, p.clone_flags, p.n_joins, p.n_uid_maps, p.hostname, p.rootfs);
	for (uint32_t i = 0; i < p.n_mounts; i++)
		printf("mount=%s %s %s 0x%x %u %s %u %u %d %u\n", p.mounts[i].source, p.mounts[i].destination,
		       p.mounts[i].fstype, p.mounts[i].flags, p.mounts[i].propagation.n, p.mounts[i].data,
		       p.mounts[i].attr_set, p.mounts[i].attr_clr, p.mounts[i].dest_is_file, p.mounts[i].kind);
	for (uint32_t i = 0; i < p.n_time_offsets; i++)
		printf("timeOffset=%u %lld %u\n", p.time_offsets[i].clock_id, (long long)p.time_offsets[i].secs,
		       p.time_offsets[i].nsecs);
	printf("execFifo=%s\npreserveFds=%u\ncreateHooks=%u\nstartHooks=%u\n", p.exec_fifo, p.preserve_fds,
	       p.n_create_hooks, p.n_start_hooks);
	for (uint32_t i = 0; i < pr->args.n; i++)
		printf("arg=%s\n", pr->args.items[i]);
	printf("uid=%u\ngid=%u\ngroups=%u\numask=%d\nterminal=%d\n", pr->uid, pr->gid, pr->additional_gids.n,
	       pr->umask, pr->terminal);
	for (uint32_t i = 0; i < pr->n_rlimits; i++)
		printf("rlimit=%u %llu %llu\n", pr->rlimits[i].resource, (unsigned long long)pr->rlimits[i].soft,
		       (unsigned long long)pr->rlimits[i].hard);
	printf("caps=0x%llx 0x%llx 0x%llx 0x%llx 0x%llx\n", (unsigned long long)pr->cap_bounding,
	       (unsigned long long)pr->cap_effective, (unsigned long long)pr->cap_permitted,
	       (unsigned long long)pr->cap_inheritable, (unsigned long long)pr->cap_ambient);
	printf("nnp=%d\nscheduler=%d\nnice=%d\nioprio=%d\npersonality=%d\napparmor=%s\n", pr->no_new_privileges,
	       pr->has_scheduler, pr->scheduler.nice, pr->has_ioprio, pr->personality, pr->apparmor_profile);
	printf("seccomp=%d %u 0x%x %s\n", pr->has_seccomp, pr->seccomp.program_len, pr->seccomp.flags,
	       pr->has_seccomp ? pr->seccomp.listener_metadata : "");
	plan_free(&p);
	return 0;
}
