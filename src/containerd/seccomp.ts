// converge's seccomp profile: the same filter as containerd's default profile (the one
// `ctr run --seccomp` and the CRI plugin's RuntimeDefault apply, itself docker's), built
// from its facts: which system calls are allowed to everyone, which ones only with a given
// capability in the bounding set, which ones only on some architectures, and the argument
// conditions on personality(2), clone(2) and socket(2). Anything else fails with EPERM.
// Where containerd 2.x tightened its default (io_uring closed, socket(2) by address family),
// converge follows the stricter one on every containerd.
//
// It is written out here rather than asked of containerd because containerd's API has no
// call that returns it (the profile lives in its Go client), and a client that builds its
// own OCI spec must bring its own.

import { release } from 'node:os';

/** Allowed to every container whatever its capabilities. */
const ALWAYS = `
accept accept4 access adjtimex alarm bind brk capget capset chdir chmod chown chown32 clock_adjtime
clock_adjtime64 clock_getres clock_getres_time64 clock_gettime clock_gettime64 clock_nanosleep
clock_nanosleep_time64 close close_range connect copy_file_range creat dup dup2 dup3 epoll_create
epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old eventfd eventfd2
execve execveat exit exit_group faccessat faccessat2 fadvise64 fadvise64_64 fallocate fanotify_mark
fchdir fchmod fchmodat fchown fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr flistxattr flock fork
fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64 fsync ftruncate ftruncate64 futex
futex_time64 futex_waitv futimesat getcpu getcwd getdents getdents64 getegid getegid32 geteuid geteuid32
getgid getgid32 getgroups getgroups32 getitimer getpeername getpgid getpgrp getpid getppid getpriority
getrandom getresgid getresgid32 getresuid getresuid32 getrlimit get_robust_list getrusage getsid
getsockname getsockopt get_thread_area gettid gettimeofday getuid getuid32 getxattr inotify_add_watch
inotify_init inotify_init1 inotify_rm_watch io_cancel ioctl io_destroy io_getevents io_pgetevents
io_pgetevents_time64 ioprio_get ioprio_set io_setup io_submit 
ipc kill landlock_add_rule landlock_create_ruleset landlock_restrict_self lchown lchown32
lgetxattr link linkat listen listxattr llistxattr _llseek lremovexattr lseek lsetxattr lstat lstat64
madvise membarrier memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat mlock mlock2 mlockall
mmap mmap2 mprotect mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedreceive_time64 mq_timedsend
mq_timedsend_time64 mq_unlink mremap msgctl msgget msgrcv msgsnd msync munlock munlockall munmap
nanosleep newfstatat _newselect open openat openat2 pause pidfd_open pidfd_send_signal pipe pipe2
pkey_alloc pkey_free pkey_mprotect poll ppoll ppoll_time64 prctl pread64 preadv preadv2 prlimit64
process_mrelease pselect6 pselect6_time64 pwrite64 pwritev pwritev2 read readahead readlink readlinkat
readv recv recvfrom recvmmsg recvmmsg_time64 recvmsg remap_file_pages removexattr rename renameat
renameat2 restart_syscall rmdir rseq rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo
rt_sigreturn rt_sigsuspend rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_getaffinity
sched_getattr sched_getparam sched_get_priority_max sched_get_priority_min sched_getscheduler
sched_rr_get_interval sched_rr_get_interval_time64 sched_setaffinity sched_setattr sched_setparam
sched_setscheduler sched_yield seccomp select semctl semget semop semtimedop semtimedop_time64 send
sendfile sendfile64 sendmmsg sendmsg sendto setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32
setgroups setgroups32 setitimer setpgid setpriority setregid setregid32 setresgid setresgid32 setresuid
setresuid32 setreuid setreuid32 setrlimit set_robust_list setsid setsockopt set_thread_area
set_tid_address setuid setuid32 setxattr shmat shmctl shmdt shmget shutdown sigaltstack signalfd
signalfd4 sigprocmask sigreturn socketcall socketpair splice stat stat64 statfs statfs64 statx
symlink symlinkat sync sync_file_range syncfs sysinfo tee tgkill time timer_create timer_delete
timer_getoverrun timer_gettime timer_gettime64 timer_settime timer_settime64 timerfd_create
timerfd_gettime timerfd_gettime64 timerfd_settime timerfd_settime64 times tkill truncate truncate64
ugetrlimit umask uname unlink unlinkat utime utimensat utimensat_time64 utimes vfork vmsplice wait4
waitid waitpid write writev
`.trim().split(/\s+/);

/** Unlocked by a capability in the bounding set (each is what the capability is for). */
const BY_CAPABILITY: Record<string, string[]> = {
  CAP_SYS_ADMIN: [
    'bpf', 'clone', 'clone3', 'fanotify_init', 'fsconfig', 'fsmount', 'fsopen', 'fspick', 'lookup_dcookie',
    'mount', 'mount_setattr', 'move_mount', 'name_to_handle_at', 'open_tree', 'perf_event_open', 'quotactl',
    'quotactl_fd', 'setdomainname', 'sethostname', 'setns', 'syslog', 'umount', 'umount2', 'unshare',
  ],
  CAP_SYS_BOOT: ['reboot'],
  CAP_SYS_CHROOT: ['chroot'],
  CAP_SYS_MODULE: ['delete_module', 'init_module', 'finit_module'],
  CAP_SYS_PACCT: ['acct'],
  CAP_SYS_PTRACE: ['kcmp', 'pidfd_getfd', 'process_madvise', 'process_vm_readv', 'process_vm_writev', 'ptrace'],
  CAP_SYS_RAWIO: ['iopl', 'ioperm'],
  CAP_SYS_TIME: ['settimeofday', 'stime', 'clock_settime', 'clock_settime64'],
  CAP_SYS_TTY_CONFIG: ['vhangup'],
  CAP_SYS_NICE: ['get_mempolicy', 'mbind', 'set_mempolicy'],
  CAP_SYSLOG: ['syslog'],
  CAP_BPF: ['bpf'],
  CAP_PERFMON: ['perf_event_open'],
};

/** Per Node.js architecture: the seccomp architectures a process may switch to, and its own calls. */
const BY_ARCH: Record<string, { arches: string[]; syscalls: string[] }> = {
  x64: { arches: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'], syscalls: ['arch_prctl', 'modify_ldt'] },
  ia32: { arches: ['SCMP_ARCH_X86'], syscalls: ['modify_ldt'] },
  arm64: {
    arches: ['SCMP_ARCH_ARM', 'SCMP_ARCH_AARCH64'],
    syscalls: ['arm_fadvise64_64', 'arm_sync_file_range', 'sync_file_range2', 'breakpoint', 'cacheflush', 'set_tls'],
  },
  arm: {
    arches: ['SCMP_ARCH_ARM'],
    syscalls: ['arm_fadvise64_64', 'arm_sync_file_range', 'sync_file_range2', 'breakpoint', 'cacheflush', 'set_tls'],
  },
  s390x: { arches: ['SCMP_ARCH_S390', 'SCMP_ARCH_S390X'], syscalls: ['s390_pci_mmio_read', 's390_pci_mmio_write', 's390_runtime_instr'] },
  ppc64: { arches: ['SCMP_ARCH_PPC64', 'SCMP_ARCH_PPC'], syscalls: [] },
  riscv64: { arches: ['SCMP_ARCH_RISCV64'], syscalls: [] },
};

/**
 * personality(2) personas allowed: PER_LINUX, PER_LINUX32, UNAME26, UNAME26|PER_LINUX32,
 * and 0xffffffff, which only asks for the current one.
 */
const PERSONAS = [0x0, 0x8, 0x20000, 0x20008, 0xffffffff];

/**
 * The namespace flags of clone(2) (CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID,
 * NEWNET): without CAP_SYS_ADMIN a clone that sets any of them is refused.
 */
const CLONE_NAMESPACE_FLAGS = 0x7e020000;
const ENOSYS = 38;

/**
 * socket(2) only for address families a container has a use for, as containerd 2.x's default
 * profile allows them: every family below AF_ALG (38) in one comparison, then one by one
 * AF_NFC (39), AF_KCM (41), AF_QIPCRTR (42), AF_SMC (43), AF_XDP (44), AF_MCTP (45).
 * AF_ALG (the kernel's crypto API) and AF_VSOCK (40, host/guest sockets, global across
 * network namespaces on most kernels) stay closed. containerd 1.6 allowed every family.
 */
const SOCKET_BELOW = 38;
const SOCKET_FAMILIES = [39, 41, 42, 43, 44, 45];

/** ptrace(2) could get around seccomp before Linux 4.8; later it is allowed to everyone. */
export function ptraceIsSafe(kernel = release()): boolean {
  const [major, minor] = kernel.split('.').map((n) => Number.parseInt(n, 10));
  return major > 4 || (major === 4 && minor >= 8);
}

export interface SeccompRule {
  names: string[];
  action: 'SCMP_ACT_ALLOW' | 'SCMP_ACT_ERRNO';
  errnoRet?: number;
  args?: Array<{ index: number; value: number; valueTwo?: number; op: string }>;
}

export interface SeccompProfile {
  defaultAction: 'SCMP_ACT_ERRNO';
  architectures: string[];
  syscalls: SeccompRule[];
}

export interface SeccompOptions {
  /** Node.js's name of the machine's architecture; default process.arch. */
  arch?: string;
  /** The kernel release (uname -r); default the running one. */
  kernel?: string;
}

/** The profile for a container whose bounding set is `capabilities` (CAP_ names). */
export function seccompProfile(capabilities: readonly string[], opts: SeccompOptions = {}): SeccompProfile {
  const arch = opts.arch ?? process.arch;
  const caps = new Set(capabilities);
  const rules: SeccompRule[] = [{ names: [...ALWAYS], action: 'SCMP_ACT_ALLOW' }];
  for (const value of PERSONAS) {
    rules.push({ names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value, op: 'SCMP_CMP_EQ' }] });
  }
  rules.push({ names: ['socket'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: SOCKET_BELOW, op: 'SCMP_CMP_LT' }] });
  for (const value of SOCKET_FAMILIES) {
    rules.push({ names: ['socket'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value, op: 'SCMP_CMP_EQ' }] });
  }
  if (ptraceIsSafe(opts.kernel)) rules.push({ names: ['ptrace'], action: 'SCMP_ACT_ALLOW' });
  const own = BY_ARCH[arch]?.syscalls ?? [];
  if (own.length > 0) rules.push({ names: [...own], action: 'SCMP_ACT_ALLOW' });

  const unlocked = new Set<string>();
  for (const cap of Object.keys(BY_CAPABILITY)) {
    if (caps.has(cap)) for (const name of BY_CAPABILITY[cap]) unlocked.add(name);
  }
  if (unlocked.size > 0) rules.push({ names: [...unlocked], action: 'SCMP_ACT_ALLOW' });
  if (!caps.has('CAP_SYS_ADMIN')) {
    // Threads and fork without new namespaces. clone3 passes its flags in memory, which a
    // filter cannot read: ENOSYS makes the C library fall back to clone, which it can.
    const index = arch === 's390x' ? 1 : 0; // s390 swaps clone's first two arguments
    rules.push({ names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index, value: CLONE_NAMESPACE_FLAGS, op: 'SCMP_CMP_MASKED_EQ' }] });
    rules.push({ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS });
  }
  // The one filter allows the architectures a process of this machine may run as (a 64-bit
  // x86 host runs 32-bit binaries too); an unknown machine gets only its native calls.
  return { defaultAction: 'SCMP_ACT_ERRNO', architectures: [...(BY_ARCH[arch]?.arches ?? [])], syscalls: rules };
}
