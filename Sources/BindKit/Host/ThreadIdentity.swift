import CBindShim
import SystemPackage

extension ThreadCredentials {
    /// Makes the calling thread `uid` and `gid` for good: real, effective and saved ids, no
    /// supplementary groups. Other threads keep theirs; from uid 0 the thread loses every
    /// capability and cannot come back, so it is for a thread of its own that is to act as an
    /// unprivileged user (the kernel then checks it as that user: /proc/PID/fd, ptrace access).
    /// The corresponding C functions are setgroups(2), setresgid(2) and setresuid(2), each the
    /// raw system call of the calling thread.
    package static func become(uid: UInt32, gid: UInt32) throws(Errno) { try _become(uid: uid, gid: gid).get() }

    static func _become(uid: UInt32, gid: UInt32) -> Result<Void, Errno> { shimVoid(bk_thread_set_ids(uid, gid)) }
}
