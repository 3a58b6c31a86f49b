/*
 * berth-pause: holds a pod's shared PID namespace as its pid 1.
 *
 * It does nothing but wait: SIGTERM and SIGINT end it (exit 0), SIGCHLD reaps every exited child
 * (orphans of the pod's containers are re-parented to pid 1 of the namespace), and every other
 * signal is blocked and discarded. No handlers run: all signals are taken synchronously with
 * sigwaitinfo, so there is no async-signal-safety to get wrong. SIGKILL and SIGSTOP cannot be
 * blocked; SIGKILL from outside the namespace is how berth tears the pod down.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void reap_all(void)
{
	for (;;) {
		pid_t pid = waitpid(-1, NULL, WNOHANG);
		if (pid > 0)
			continue;
		if (pid < 0 && errno == EINTR)
			continue;
		return; /* 0: children remain but none has exited; -1 ECHILD: no children */
	}
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "-v") == 0) {
		puts("berth-pause 1");
		return 0;
	}
	/* dispositions ignored by whoever started us survive execve: take these back */
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	sigset_t all;
	sigfillset(&all);
	if (sigprocmask(SIG_BLOCK, &all, NULL) < 0) {
		perror("berth-pause: sigprocmask");
		return 1;
	}
	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&all, &si);
		if (sig < 0)
			continue; /* EINTR */
		if (sig == SIGTERM || sig == SIGINT)
			return 0;
		if (sig == SIGCHLD)
			reap_all();
	}
}
