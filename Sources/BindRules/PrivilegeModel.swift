import BindKit

// Privileged ports as a pure function: who calls bind(), with which capabilities, in which user
// namespace, and what execve() of a program changes about that. No syscalls: the facts
// (PrivilegeFacts.swift) come from the host (BindConformance reads them) or from a file.

// MARK: - Answers

/// What execve() of a binary leaves the process with.
public struct ExecResult: Hashable, Sendable, Codable {
    public var uid: UInt32
    public var euid: UInt32
    @CapabilityMasks public var capabilities: CapabilitySets
    /// Set when execve() itself fails: EPERM for a file whose forced capabilities cannot all be
    /// granted, EACCES for a file without an execute bit.
    public var errno: String?
    /// What happened, in the kernel's order.
    public var steps: [String]

    public init(uid: UInt32, euid: UInt32, capabilities: CapabilitySets, errno: String?, steps: [String]) {
        self.uid = uid
        self.euid = euid
        self.capabilities = capabilities
        self.errno = errno
        self.steps = steps
    }
}

/// One way to change the verdict, checked by the model before it is offered.
public struct PrivilegeFix: Hashable, Sendable, Codable {
    /// What it does, what it costs, where it does not reach.
    public var summary: String
    /// The command for this host.
    public var command: String
}

/// The answer: may the subject bind `port`, why, and how to change it.
public struct PrivilegeVerdict: Hashable, Sendable, Codable {
    public var port: Int
    public var allowed: Bool
    /// What fails when not allowed: EACCES from bind(), or EPERM/EACCES from execve() of the binary.
    public var errno: String?
    /// Whether the port needs CAP_NET_BIND_SERVICE at all (0 < port < ip_unprivileged_port_start).
    public var requiresCapability: Bool
    public var reasons: [String]
    /// Empty when allowed.
    public var fixes: [PrivilegeFix]
    public var notes: [String]
    /// The credentials that call bind(): the subject's own, or after exec of the binary.
    public var bindUID: UInt32
    public var bindEffective: [Capability]
    public var exec: ExecResult?
}

// MARK: - The model

public enum PrivilegeModel {
    /// The notes every verdict carries: the order of the checks and whose credentials count.
    public static let notes = [
        "bind() checks the address before the port for IPv4 (__inet_bind): a non-local IPv4 address fails with EADDRNOTAVAIL before the privilege is looked at; for IPv6 (__inet6_bind) the privilege comes first, so a non-local IPv6 address on a privileged port fails with EACCES",
        "the capability is checked on the thread that calls bind(), not on the one that created the socket",
        "net.ipv4.ip_unprivileged_port_start is per network namespace and applies to IPv6 too; port 0 (the kernel picks) never needs privilege",
    ]

    /// The verdict for one port.
    public static func verdict(_ facts: PrivilegeFacts, port: UInt16) -> PrivilegeVerdict {
        let d = decide(facts, port: port)
        var reasons = [portReason(facts, port: port, requires: d.requires)]
        if d.requires || d.exec?.errno != nil { reasons += credentialReasons(facts, d) }
        if let errno = d.exec?.errno {
            reasons.append("the program never runs: execve() fails with \(errno)")
        } else if d.allowed {
            reasons.append("bind() to port \(port) passes the privilege check")
        } else {
            reasons.append("bind() to port \(port) fails with EACCES")
        }
        return PrivilegeVerdict(
            port: Int(port), allowed: d.allowed, errno: d.allowed ? nil : (d.exec?.errno ?? "EACCES"), requiresCapability: d.requires,
            reasons: reasons, fixes: d.allowed ? [] : fixes(facts, port: port), notes: notes,
            bindUID: d.bindEUID, bindEffective: d.bindEffective.sorted(), exec: d.exec)
    }

    struct Decision {
        var requires: Bool
        var exec: ExecResult?
        var bindEUID: UInt32
        var bindEffective: Set<Capability>
        /// Whether the capability the binder holds counts in the owner of the network namespace.
        var capable: Bool
        var allowed: Bool
    }

    /// `inet_port_requires_bind_service()` (include/net/ip.h) and
    /// `ns_capable(net->user_ns, CAP_NET_BIND_SERVICE)` as `cap_capable()` walks it.
    static func decide(_ facts: PrivilegeFacts, port: UInt16) -> Decision {
        let requires = port != 0 && Int(port) < facts.unprivilegedPortStart
        let afterExec = facts.binary.map { PrivilegeModel.exec($0, by: facts) }
        let caps = afterExec?.capabilities ?? facts.capabilities
        let euid = afterExec?.euid ?? facts.euid
        let has = caps.effective.contains(.netBindService)
        let capable: Bool
        switch facts.userNamespace.networkNamespaceOwner {
        case .own: capable = has
        case .descendant: capable = has || facts.userNamespace.childOwnerUID == euid
        case .outside: capable = false
        }
        let runs = afterExec?.errno == nil
        return Decision(
            requires: requires, exec: afterExec, bindEUID: euid, bindEffective: caps.effective, capable: capable,
            allowed: runs && (!requires || capable))
    }

    /// What execve() of `binary` gives a process holding `facts`, in the kernel's order: the
    /// execute permission, `bprm_fill_uid()` (fs/exec.c), then `cap_bprm_creds_from_file()`
    /// (security/commoncap.c): `get_file_caps()`, `handle_privileged_root()`, the no_new_privs
    /// downgrade, the ambient set. Not modelled: a tracer, namespaced (v3) file capabilities,
    /// supplementary groups.
    public static func exec(_ binary: BinaryFacts, by facts: PrivilegeFacts) -> ExecResult {
        var new = ExecCredentials(euid: facts.euid, egid: facts.egid, ambient: facts.capabilities.ambient)
        if let refusal = executePermission(binary, facts, new) { return refusal }
        fillUID(binary, facts, &new)
        if let refusal = fileCapabilities(binary, facts, &new) { return refusal }
        privilegedRoot(facts, &new)
        // `id_changed`, taken before no_new_privs may undo the change: it also clears the ambient set.
        let idChanged = new.euid != facts.uid || new.egid != facts.gid
        noNewPrivileges(facts, idChanged: idChanged, &new)
        ambientAndEffective(idChanged: idChanged, &new)
        new.steps.append(
            "after execve(): permitted \(list(new.permitted)), effective \(list(new.effective))\(new.raiseEffective ? "" : " (the ambient set)")"
        )
        let old = facts.capabilities
        return ExecResult(
            uid: facts.uid, euid: new.euid,
            capabilities: CapabilitySets(
                effective: new.effective, permitted: new.permitted, inheritable: old.inheritable, bounding: old.bounding,
                ambient: new.ambient),
            errno: nil, steps: new.steps)
    }

    /// The credentials execve() builds (the kernel's `bprm->cred`), and what it did, in words.
    struct ExecCredentials {
        var euid: UInt32
        var egid: UInt32
        var permitted: Set<Capability> = []
        var effective: Set<Capability> = []
        var ambient: Set<Capability>
        /// The file's effective bit, or an effective uid 0: pE' is pP' rather than pA'.
        var raiseEffective = false
        /// The file's capabilities count (the file has some, on a mount without nosuid).
        var hasFileCaps = false
        var steps: [String] = []

        init(euid: UInt32, egid: UInt32, ambient: Set<Capability>) {
            self.euid = euid
            self.egid = egid
            self.ambient = ambient
        }
    }

    /// execve() failing with `errno`: the process keeps its credentials.
    static func execFails(_ errno: String, _ why: String, _ facts: PrivilegeFacts, _ new: ExecCredentials) -> ExecResult {
        ExecResult(
            uid: facts.uid, euid: facts.euid, capabilities: facts.capabilities, errno: errno,
            steps: new.steps + ["execve() fails with \(errno): \(why)"])
    }

    /// `do_open_execat()` → `may_open()`: a file without an execute bit is refused.
    static func executePermission(_ binary: BinaryFacts, _ facts: PrivilegeFacts, _ new: ExecCredentials) -> ExecResult? {
        binary.mode & 0o111 == 0 ? execFails("EACCES", "the file has no execute bit", facts, new) : nil
    }

    /// `bprm_fill_uid()`: the set-user-ID and set-group-ID bits, unless nosuid or no_new_privs.
    static func fillUID(_ binary: BinaryFacts, _ facts: PrivilegeFacts, _ new: inout ExecCredentials) {
        guard binary.isSetUID || binary.isSetGID else { return }
        if binary.nosuidMount || facts.noNewPrivileges {
            new.steps.append(
                "the set-user-ID/set-group-ID bit is ignored: \(binary.nosuidMount ? "the file system is mounted nosuid" : "no_new_privs is set")"
            )
            return
        }
        if binary.isSetUID {
            new.euid = binary.ownerUID
            new.steps.append("set-user-ID: the effective uid becomes the file's owner, \(new.euid)")
        }
        if binary.isSetGID { new.egid = binary.ownerGID }
    }

    /// `get_file_caps()` and `bprm_caps_from_vfs_caps()`: pP' = (X & fP) | (pI & fI); a file whose
    /// effective bit demands capabilities the bounding set withholds fails with EPERM.
    static func fileCapabilities(_ binary: BinaryFacts, _ facts: PrivilegeFacts, _ new: inout ExecCredentials) -> ExecResult? {
        guard let f = binary.capabilities else { return nil }
        if binary.nosuidMount {
            new.steps.append("the file capabilities \(f.text) are ignored: the file system is mounted nosuid")
            return nil
        }
        let old = facts.capabilities
        new.hasFileCaps = true
        new.raiseEffective = f.effective
        new.permitted = old.bounding.intersection(f.permitted).union(old.inheritable.intersection(f.inheritable))
        new.steps.append(
            "file capabilities \(f.text): permitted = (bounding ∩ file permitted) ∪ (inheritable ∩ file inheritable) = \(list(new.permitted))"
        )
        let missing = f.permitted.subtracting(new.permitted)
        if f.effective && !missing.isEmpty {
            return execFails("EPERM", "the file's effective bit demands \(list(missing)), which the bounding set lacks", facts, new)
        }
        return nil
    }

    /// `handle_privileged_root()`: uid 0 gets the bounding set, unless SECBIT_NOROOT; set-user-ID
    /// root with file capabilities gets only the file's.
    static func privilegedRoot(_ facts: PrivilegeFacts, _ new: inout ExecCredentials) {
        let old = facts.capabilities
        let rootBySetUID = facts.uid != 0 && new.euid == 0
        if facts.secureNoRoot {
            if new.euid == 0 || facts.uid == 0 { new.steps.append("SECBIT_NOROOT: uid 0 gets nothing from exec") }
        } else if new.hasFileCaps && rootBySetUID {
            new.steps.append("set-user-ID root and file capabilities: the file capabilities alone decide")
        } else {
            if new.euid == 0 || facts.uid == 0 {
                new.permitted = old.bounding.union(old.inheritable)
                new.steps.append(
                    "uid 0 (\(new.euid == 0 ? "effective" : "real only")): permitted = bounding ∪ inheritable = \(list(new.permitted))")
            }
            if new.euid == 0 { new.raiseEffective = true }
        }
    }

    /// `cap_bprm_creds_from_file()` under no_new_privs: "they get no more than they had, and maybe
    /// less": the uid change is undone, the permitted set kept within the old one.
    static func noNewPrivileges(_ facts: PrivilegeFacts, idChanged: Bool, _ new: inout ExecCredentials) {
        let old = facts.capabilities
        guard facts.noNewPrivileges && (idChanged || !new.permitted.isSubset(of: old.permitted)) else { return }
        new.euid = facts.uid
        new.egid = facts.gid
        let refused = new.permitted.subtracting(old.permitted)
        new.permitted.formIntersection(old.permitted)
        if !refused.isEmpty { new.steps.append("no_new_privs: nothing beyond the old permitted set, so not \(list(refused))") }
    }

    /// `cap_bprm_creds_from_file()`'s last sets: file capabilities or a uid/gid change clear the
    /// ambient set; pP' |= pA'; pE' = fE ? pP' : pA'.
    static func ambientAndEffective(idChanged: Bool, _ new: inout ExecCredentials) {
        if (new.hasFileCaps || idChanged) && !new.ambient.isEmpty {
            new.ambient = []
            new.steps.append("the ambient set is cleared: \(new.hasFileCaps ? "the file has capabilities" : "the uid or gid changes")")
        }
        new.permitted.formUnion(new.ambient)
        new.effective = new.raiseEffective ? new.permitted : new.ambient
    }

    // MARK: Reasons

    /// Whether the port needs the capability at all, and why.
    static func portReason(_ facts: PrivilegeFacts, port: UInt16, requires: Bool) -> String {
        let start = facts.unprivilegedPortStart
        if port == 0 { return "port 0 asks the kernel to pick a free port: that never needs CAP_NET_BIND_SERVICE" }
        if !requires { return "port \(port) is not below net.ipv4.ip_unprivileged_port_start (\(start)): any user may bind it" }
        return
            "port \(port) is below net.ipv4.ip_unprivileged_port_start (\(start)) of this network namespace: bind() needs CAP_NET_BIND_SERVICE in the effective set, in the user namespace that owns the network namespace"
    }

    /// What the subject holds, what execve() changes, and whose capabilities count where the
    /// network namespace belongs.
    static func credentialReasons(_ facts: PrivilegeFacts, _ d: Decision) -> [String] {
        var r: [String] = []
        let c = facts.capabilities
        let sets: [(String, Set<Capability>)] = [
            ("effective", c.effective), ("permitted", c.permitted), ("inheritable", c.inheritable),
            ("bounding", c.bounding), ("ambient", c.ambient),
        ]
        let inSets = sets.filter { $0.1.contains(.netBindService) }.map(\.0)
        let setNames = inSets.count <= 1 ? inSets.joined() : inSets.dropLast().joined(separator: ", ") + " and " + (inSets.last ?? "")
        r.append(
            "\(facts.who) holds CAP_NET_BIND_SERVICE in \(inSets.isEmpty ? "none of its sets" : "its \(setNames) set\(inSets.count > 1 ? "s" : "")")"
        )
        if facts.noNewPrivileges {
            r.append(
                "no_new_privs is set: execve() grants nothing new (file capabilities and set-user-ID are ignored; ambient capabilities survive)"
            )
        }
        if let b = facts.binary, let e = d.exec {
            r.append("on execve(\(b.path)): " + e.steps.joined(separator: "; "))
        }
        let hasIt = d.bindEffective.contains(.netBindService)
        let owner = facts.userNamespace
        switch owner.networkNamespaceOwner {
        case .own where owner.isInitial:
            r.append("the network namespace belongs to the initial user namespace, the process's own: the effective set decides")
        case .own:
            r.append(
                "the process runs in a user namespace (uid map \(owner.uidMap.split(separator: "\n").joined(separator: "; "))) that owns its network namespace, as a rootless container with its own network does: capabilities held in that user namespace count, so its root may bind low ports"
            )
        case .descendant:
            r.append(
                "the network namespace belongs to a user namespace below the process's: its effective set counts there, and so does being uid \(owner.childOwnerUID.map(String.init) ?? "?"), the owner of the user namespace on the way"
            )
        case .outside:
            r.append(
                "the network namespace belongs to a user namespace above the process's (as for a rootless container on the host's network): no capability held in the process's user namespace counts there, not even as its uid 0"
            )
        }
        if d.exec?.errno == nil, d.requires, owner.networkNamespaceOwner != .outside {
            if d.bindEUID == 0 && !hasIt {
                r.append(
                    "uid 0 is not enough: the kernel checks the capability, and the effective set lacks CAP_NET_BIND_SERVICE (dropped by capsh --drop, a container's --cap-drop, or a bounding set without it)"
                )
            }
            let permittedAfter = d.exec?.capabilities.permitted ?? c.permitted
            if !hasIt && permittedAfter.contains(.netBindService) {
                r.append(
                    "CAP_NET_BIND_SERVICE is permitted but not effective: the program could raise it itself before bind() (cap_set_proc), or the file's effective bit (+ep) would"
                )
            }
        }
        return r
    }

    // MARK: Fixes

    /// The ways that would change a refusal, each checked against the model first.
    static func fixes(_ facts: PrivilegeFacts, port: UInt16) -> [PrivilegeFix] {
        let program = facts.binary?.path ?? "/path/to/program"
        let user = facts.userName ?? String(facts.uid)
        var candidates: [(PrivilegeFix, PrivilegeFacts, UInt16)] = []
        let plain = BinaryFacts(path: program)

        // setcap: the file's capabilities gain CAP_NET_BIND_SERVICE, effective.
        var withFileCap = facts
        var binary = facts.binary ?? plain
        var fileCaps = binary.capabilities ?? FileCapabilities()
        fileCaps.permitted.insert(.netBindService)
        fileCaps.effective = true
        binary.capabilities = fileCaps
        withFileCap.binary = binary
        candidates.append(
            (
                PrivilegeFix(
                    summary:
                        "give the program the capability in its file: every exec of it gets CAP_NET_BIND_SERVICE, whoever runs it (needs extended attributes, a file system not mounted nosuid; an upgrade that replaces the file drops it)",
                    command:
                        "setcap '\(fileCaps.text.split(separator: "=", omittingEmptySubsequences: false).joined(separator: "=+"))' \(shellQuoted(program))"
                ), withFileCap, port
            ))

        // Ambient: a service manager starts the program with CAP_NET_BIND_SERVICE ambient.
        var withAmbient = facts
        withAmbient.capabilities.inheritable.insert(.netBindService)
        withAmbient.capabilities.permitted.insert(.netBindService)
        withAmbient.capabilities.ambient.insert(.netBindService)
        withAmbient.binary = facts.binary ?? plain
        if facts.capabilities.bounding.contains(.netBindService) {
            let unit = "AmbientCapabilities=CAP_NET_BIND_SERVICE"
            let fix =
                facts.tools.systemd || !facts.tools.setpriv
                ? PrivilegeFix(
                    summary:
                        "start it as a systemd service with \(unit) (and User=\(user)) in the unit's [Service] section: only that service gets the capability, it survives NoNewPrivileges=yes, but exec of a set-user-ID or file-capability program drops it",
                    command: "systemd-run --uid=\(shellQuoted(user)) -p \(unit) \(shellQuoted(program))")
                : PrivilegeFix(
                    summary:
                        "start it with CAP_NET_BIND_SERVICE as an ambient capability (systemd's \(unit) does the same): only that process and what it execs get it",
                    command:
                        "setpriv --reuid=\(shellQuoted(user)) --init-groups --inh-caps=+net_bind_service --ambient-caps=+net_bind_service \(shellQuoted(program))"
                )
            candidates.append((fix, withAmbient, port))
        }

        // The sysctl: make this port unprivileged for everyone in the network namespace.
        var lowered = facts
        lowered.unprivilegedPortStart = Int(port)
        let owner =
            facts.userNamespace.networkNamespaceOwner == .outside
            ? " (the owner of the network namespace must write it: root of the host)" : ""
        candidates.append(
            (
                PrivilegeFix(
                    summary:
                        "let every user of this network namespace bind ports from \(port) up, IPv4 and IPv6\(owner); keep it across reboots with a line in /etc/sysctl.d/, in a container with docker run --sysctl net.ipv4.ip_unprivileged_port_start=\(port)",
                    command: "sysctl -w net.ipv4.ip_unprivileged_port_start=\(port)"), lowered, port
            ))

        // A higher port, and the firewall redirects the low one to it.
        let start = facts.unprivilegedPortStart
        let higher = Int(port) + 8000 >= start && Int(port) + 8000 <= 65535 ? Int(port) + 8000 : min(max(start, 1024), 65535)
        if let high = UInt16(exactly: higher) {
            let command =
                facts.tools.nft || !facts.tools.iptables
                ? "nft add table ip nat; nft 'add chain ip nat prerouting { type nat hook prerouting priority dstnat; }'; nft add rule ip nat prerouting tcp dport \(port) redirect to :\(high)"
                : "iptables -t nat -A PREROUTING -p tcp --dport \(port) -j REDIRECT --to-ports \(high)"
            candidates.append(
                (
                    PrivilegeFix(
                        summary:
                            "listen on \(high), which needs no privilege, and redirect \(port) to it in the firewall (the same for udp; ip6 / ip6tables for IPv6; connections from this host itself pass the output hook, not prerouting)",
                        command: command), facts, high
                ))
        }

        // A user namespace that owns its own network namespace.
        if facts.userNamespace.networkNamespaceOwner == .outside {
            var own = facts
            own.userNamespace.networkNamespaceOwner = .own
            own.capabilities = PrivilegeFacts.freshProcess(uid: 0, bounding: facts.capabilities.bounding)
            own.euid = 0
            own.uid = 0
            candidates.append(
                (
                    PrivilegeFix(
                        summary:
                            "give the user namespace its own network namespace (rootless podman and Docker do, forwarding host ports into it): its root may bind low ports there, though not on the host's addresses",
                        command: "unshare --user --map-root-user --net \(shellQuoted(program))"), own, port
                ))
        }
        return candidates.filter { decide($0.1, port: $0.2).allowed }.map(\.0)
    }

    /// A set of capabilities for a sentence: "none", a few names, or "all but …".
    static func list(_ set: Set<Capability>) -> String {
        if set.isEmpty { return "none" }
        let missing = Set(Capability.allCases).subtracting(set)
        if missing.isEmpty { return "all" }
        if set.count > 8 && missing.count <= 4 { return "all but " + missing.sorted().map(\.name).joined(separator: ", ") }
        if set.count > 8 {
            return "\(set.count) capabilities"
                + (set.contains(.netBindService) ? " including CAP_NET_BIND_SERVICE" : " without CAP_NET_BIND_SERVICE")
        }
        return set.sorted().map(\.name).joined(separator: ", ")
    }

    /// The word as a POSIX shell reads it: unchanged when plain, else in single quotes.
    static func shellQuoted(_ word: String) -> String {
        let plain =
            !word.isEmpty
            && word.unicodeScalars.allSatisfy {
                ($0 >= "a" && $0 <= "z") || ($0 >= "A" && $0 <= "Z") || ($0 >= "0" && $0 <= "9") || "/._-+=:,@%".unicodeScalars.contains($0)
            }
        return plain ? word : "'" + word.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "'\\''") + "'"
    }
}
