/*
 * berth-pause: holds a pod's shared PID namespace as its pid 1.
 *
 * It does nothing but wait: SIGTERM and SIGINT end it (exit 0), SIGCHLD reaps every exited child
 * (orphans of the pod's containers are re-parented to pid 1 of the namespace), and every other
 * signal is blocked and discarded. No handlers run: all signals are taken synchronously with
 * sigwaitinfo, so there is no async-signal-safety to get wrong. SIGKILL and SIGSTOP cannot be
 * blocked; SIGKILL from outside the namespace is how berth tears the pod down.
 *
 * `berth-pause --init [--] CMD ARGS...` is a container's pid 1 for `berth run --init`: it starts CMD
 * as its child (in its own process group, the terminal's foreground group when stdin is a tty),
 * forwards every signal it gets to CMD, reaps every exited process, and when CMD exits, exits with
 * CMD's status (128+signal when CMD was killed). CMD that cannot be run: 127 when it does not exist,
 * 126 otherwise, as a shell does.
 */
#include <errno.h>
#include <stdlib.h>
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

static void noop(int sig) { (void)sig; }

static int init_main(char **cmd)
{
	sigset_t all, none;
	sigfillset(&all);
	sigemptyset(&none);
	/* handlers (never run: the signals stay blocked) so that signals sent from inside the container's
	 * PID namespace are not discarded by the kernel, as they would be for pid 1 with SIG_DFL */
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = noop;
	for (int s = 1; s < NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP)
			sigaction(s, &sa, NULL);
	if (sigprocmask(SIG_BLOCK, &all, NULL) < 0) {
		perror("berth-pause: sigprocmask");
		return 125;
	}
	pid_t child = fork();
	if (child < 0) {
		perror("berth-pause: fork");
		return 125;
	}
	if (child == 0) {
		setpgid(0, 0);
		if (isatty(0)) {
			signal(SIGTTOU, SIG_IGN);
			tcsetpgrp(0, getpgrp());
		}
		for (int s = 1; s < NSIG; s++)
			if (s != SIGKILL && s != SIGSTOP)
				signal(s, SIG_DFL);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execvp(cmd[0], cmd);
		int e = errno;
		fprintf(stderr, "berth-pause: exec %s: %s\n", cmd[0], strerror(e));
		_exit(e == ENOENT || e == ENOTDIR ? 127 : 126);
	}
	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&all, &si);
		if (sig < 0)
			continue; /* EINTR */
		if (sig != SIGCHLD) {
			kill(child, sig);
			continue;
		}
		for (;;) {
			int st;
			pid_t pid = waitpid(-1, &st, WNOHANG);
			if (pid < 0 && errno == EINTR)
				continue;
			if (pid <= 0)
				break;
			if (pid == child) {
				reap_all();
				if (WIFEXITED(st))
					return WEXITSTATUS(st);
				return 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
			}
		}
	}
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "-v") == 0) {
		puts("berth-pause 1");
		return 0;
	}
	if (argc > 1 && strcmp(argv[1], "--init") == 0) {
		int i = 2;
		if (i < argc && strcmp(argv[i], "--") == 0)
			i++;
		if (i >= argc) {
			fputs("usage: berth-pause --init [--] CMD ARGS...\n", stderr);
			return 125;
		}
		return init_main(argv + i);
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
