import CBindShim
import SystemPackage

/// The calling thread's credentials: its effective uid, its capability sets, its securebits and
/// no_new_privs. What changes them changes the calling thread only (the raw system calls, not
/// glibc's wrappers, which change every thread of the process).
package enum ThreadCredentials {
    /// Sets the calling thread's effective uid, keeping its real and saved ones. Leaving uid 0
    /// clears the effective capabilities and returning to it restores them from the permitted set
    /// (the kernel's rule), so the permitted set survives while the real uid is 0; only uid 0 (or
    /// CAP_SETUID) may take an euid other than its real or saved one (else EPERM). The corresponding
    /// C function is setresuid(2) with -1 for the real and saved uid.
    package static func setEffectiveUID(_ uid: UInt32) throws(Errno) { try _setEffectiveUID(uid).get() }

    static func _setEffectiveUID(_ uid: UInt32) -> Result<Void, Errno> { shimVoid(bk_thread_set_euid(uid)) }

    /// Sets the calling thread's effective capabilities to `mask` (bit N is capability N), which
    /// must lie within its permitted set (else EPERM). The corresponding C function is
    /// cap_set_proc(3).
    package static func setEffectiveCapabilities(_ mask: UInt64) throws(Errno) { try _setEffectiveCapabilities(mask).get() }

    static func _setEffectiveCapabilities(_ mask: UInt64) -> Result<Void, Errno> {
        shimVoid(bk_thread_set_effective_caps(mask))
    }

    /// The calling thread's capability sets, as masks. The corresponding C functions are
    /// cap_get_proc(3), cap_get_bound(3) and cap_get_ambient(3).
    package static func capabilityMasks() throws(Errno) -> CapabilityMasks { try _capabilityMasks().get() }

    static func _capabilityMasks() -> Result<CapabilityMasks, Errno> {
        var c = bk_capsets()
        return shimVoid(bk_caps_self(&c)).map { CapabilityMasks(c) }
    }

    /// The calling thread's securebits. The corresponding C function is prctl(2) with
    /// PR_GET_SECUREBITS.
    package static func securebits() throws(Errno) -> Securebits { try _securebits().get() }

    static func _securebits() -> Result<Securebits, Errno> { shimResult(bk_securebits()).map { Securebits(rawValue: UInt32($0)) } }

    /// Whether the calling thread has no_new_privs (execve then grants nothing: no set-user-ID, no
    /// file capabilities). The corresponding C function is prctl(2) with PR_GET_NO_NEW_PRIVS.
    package static func noNewPrivileges() throws(Errno) -> Bool { try _noNewPrivileges().get() }

    static func _noNewPrivileges() -> Result<Bool, Errno> { shimResult(bk_no_new_privs()).map { $0 == 1 } }

    /// Whether the calling process's user namespace is the initial one, the one that maps every
    /// uid onto itself (`0 0 4294967295` in /proc/self/uid_map). The corresponding C functions are
    /// open(2) and read(2).
    package static func inInitialUserNamespace() throws(Errno) -> Bool { try _inInitialUserNamespace().get() }

    static func _inInitialUserNamespace() -> Result<Bool, Errno> { shimResult(bk_in_initial_userns()).map { $0 == 1 } }
}

/// Capability sets as bit masks: bit N is capability N (`Capability(rawValue: N)`), whether this
/// library names it or not.
package struct CapabilityMasks: Hashable, Sendable {
    package var effective: UInt64
    package var permitted: UInt64
    package var inheritable: UInt64
    package var bounding: UInt64
    package var ambient: UInt64

    init(_ c: bk_capsets) {
        effective = c.effective
        permitted = c.permitted
        inheritable = c.inheritable
        bounding = c.bounding
        ambient = c.ambient
    }
}

/// Securebits of a thread (`<linux/securebits.h>`), as far as bind's privilege check reads them.
package struct Securebits: OptionSet, Hashable, Sendable {
    package let rawValue: UInt32
    package init(rawValue: UInt32) { self.rawValue = rawValue }

    /// `SECBIT_NOROOT`: uid 0 gains no capabilities by exec.
    package static let noRoot = Securebits(rawValue: UInt32(BK_SECBIT_NOROOT))
}

extension CapabilitySets {
    /// The calling thread's sets. The corresponding C functions are cap_get_proc(3),
    /// cap_get_bound(3) and cap_get_ambient(3).
    public static func current() throws(Errno) -> CapabilitySets { CapabilitySets(try ThreadCredentials.capabilityMasks()) }
}
