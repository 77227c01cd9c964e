//! Scheduling of the library's own background thread (the one that chains usage records
//! into the audit trail).

/// Sets the calling thread's nice value (0 to 19; higher yields the CPU to the host's own
/// threads when both want it). On Linux the nice value belongs to one thread, so only the
/// caller is affected; raising it needs no privilege. Returns whether it took effect (always
/// `false` elsewhere).
pub fn set_nice(nice: u8) -> bool {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid takes no arguments and cannot fail.
        let tid = unsafe { libc::syscall(libc::SYS_gettid) };
        let Ok(tid) = libc::id_t::try_from(tid) else {
            return false;
        };
        // SAFETY: PRIO_PROCESS with the id of a thread of this process changes only that
        // thread's nice value; no memory is passed.
        unsafe { libc::setpriority(libc::PRIO_PROCESS, tid, i32::from(nice.min(19))) == 0 }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = nice;
        false
    }
}
