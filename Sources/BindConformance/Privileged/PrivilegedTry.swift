import BindKit
import BindRules
import Foundation

// `bindcheck privileged --try`: the prediction beside real binds in a child that takes the
// credentials it was made for (`ChildCredentials`, in BindKit).

/// One real bind of `bindcheck privileged --try`, beside the prediction.
public struct PrivilegeTryRecord: Hashable, Sendable, Codable {
    public var family: String
    public var transport: String
    public var address: String
    /// "ok", or the errno the model predicts.
    public var predicted: String
    /// What the kernel said: "ok", an errno name, or why it was not tried.
    public var result: String
    /// nil when not tried.
    public var agrees: Bool?
    public var note: String?
}

public enum PrivilegeTry {
    /// The credentials the verdict was made for, as a child can take them: the subject's after
    /// exec of the binary, the user's, or (neither) this process's own.
    public static func credentials(for facts: PrivilegeFacts, verdict: PrivilegeVerdict, isUser: Bool) -> ChildCredentials {
        if let e = verdict.exec {
            return ChildCredentials(uid: e.uid, euid: e.euid, gid: facts.gid, capabilities: e.capabilities)
        }
        if isUser { return ChildCredentials(uid: facts.uid, euid: facts.euid, gid: facts.gid, capabilities: facts.capabilities) }
        return ChildCredentials()
    }

    /// Binds the wildcard of each family, TCP and UDP, at `port` in a child with `credentials`.
    public static func run(_ credentials: ChildCredentials, port: UInt16, verdict: PrivilegeVerdict) throws(ChildError)
        -> [PrivilegeTryRecord]
    {
        var c = credentials
        // Ids equal to the caller's need no change (and no privilege).
        if c.uid == getuid() && (c.euid ?? c.uid) == geteuid() && c.gid == getgid() {
            c.uid = nil
            c.euid = nil
            c.gid = nil
        }
        let predicted = verdict.allowed ? "ok" : verdict.errno ?? "EACCES"
        if let e = verdict.exec?.errno {
            return [
                PrivilegeTryRecord(
                    family: "-", transport: "-", address: "-", predicted: predicted, result: "not tried",
                    agrees: nil, note: "execve() would fail with \(e): there are no credentials to bind with")
            ]
        }
        var records: [PrivilegeTryRecord] = []
        for family in [AddressFamily.inet, .inet6] {
            for transport in [Transport.tcp, .udp] {
                let address = family == .inet ? "0.0.0.0:\(port)" : "[::]:\(port)"
                let outcome = try c.bind(family: family, transport: transport, port: port)
                var record = PrivilegeTryRecord(
                    family: family == .inet ? "inet" : "inet6", transport: transport == .tcp ? "tcp" : "udp", address: address,
                    predicted: predicted, result: outcome.description, agrees: nil, note: nil)
                switch outcome {
                case .ok:
                    record.agrees = verdict.allowed
                case .failed(let e, .bind):
                    // Privilege is checked before the port is looked up: EADDRINUSE means it passed.
                    record.agrees = (e == .permissionDenied) != verdict.allowed
                    if e == .addressInUse { record.note = "another socket holds the port; the privilege check passed before that" }
                case .failed(let e, _):
                    record.note = "not tried: socket() failed with \(e.name)"
                }
                records.append(record)
            }
        }
        return records
    }
}
