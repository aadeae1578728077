import BindTestSupport
import SystemPackage
import Testing

@testable import BindKit

// The texts of /proc and /etc that name a holder: each as the kernel or the runtime writes it.

@Suite("What /proc and /etc/passwd tell of a process", .checksLeaks)
struct HostParsingTests {
    @Test("status: the real and effective uid of the Uid line")
    func statusUIDs() {
        let text = "Name:\tpython3\nUmask:\t0022\nState:\tS (sleeping)\nUid:\t65534\t0\t0\t0\nGid:\t0\t0\t0\t0\n"
        #expect(HostProcess.uids(status: text).map { [$0.0, $0.1] } == [65534, 0])
        #expect(HostProcess.uids(status: "Name:\tx\n") == nil)
        #expect(HostProcess.uids(status: "Uid:\tfoo\n") == nil)
    }

    @Test("cmdline: NUL-separated arguments, an empty one kept, the last NUL dropped")
    func commandLine() {
        #expect(HostProcess.commandLine(Array("nginx: master\u{0}-g\u{0}\u{0}x\u{0}".utf8)) == ["nginx: master", "-g", "", "x"])
        #expect(HostProcess.commandLine([]) == [])
        #expect(HostProcess.commandLine(Array("no-nul".utf8)) == ["no-nul"])
    }

    @Test("cgroup: the v2 line first, else v1's name=systemd; v1 controllers by name")
    func cgroupPaths() {
        let hybrid = "12:net_cls,net_prio:/tagged\n1:name=systemd:/system.slice/nginx.service\n0::/system.slice/nginx.service\n"
        #expect(HostProcess.cgroupPath(hybrid) == "/system.slice/nginx.service")
        #expect(HostProcess.cgroupPath("1:name=systemd:/user.slice\n") == "/user.slice")
        #expect(HostProcess.cgroupPath("4:cpu:/x\n") == nil)
        let c = HostProcess.controllerPaths(hybrid)
        #expect(c["net_cls"] == "/tagged" && c["net_prio"] == "/tagged" && c["name=systemd"] == "/system.slice/nginx.service")
        #expect(c.count == 3, "the v2 line names no controller")
    }

    @Test(
        "the unit and the container a cgroup path names",
        arguments: [
            ("/system.slice/nginx.service", "nginx.service", nil),
            ("/user.slice/user-1000.slice/session-3.scope", "session-3.scope", nil),
            ("/user.slice/user-1000.slice/user@1000.service/app.slice/app-gnome.scope", "app-gnome.scope", nil),
            (
                "/system.slice/docker-\(String(repeating: "ab", count: 32)).scope", "docker-\(String(repeating: "ab", count: 32)).scope",
                "docker \(String(repeating: "ab", count: 32))"
            ),
            ("/docker/\(String(repeating: "cd", count: 32))", nil, "docker \(String(repeating: "cd", count: 32))"),
            ("/machine.slice/libpod-0123abcd.scope/container", "libpod-0123abcd.scope", "podman 0123abcd"),
            (
                "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/cri-containerd-99ff.scope",
                "cri-containerd-99ff.scope", "containerd 99ff"
            ),
            ("/kubepods/burstable/pod7/\(String(repeating: "e", count: 64))", nil, "kubernetes \(String(repeating: "e", count: 64))"),
            ("/lxc.payload.web/system.slice/nginx.service", "nginx.service", "lxc web"),
            ("/machine.slice/machine-debian.scope", "machine-debian.scope", "systemd-nspawn debian"),
            ("/", nil, nil),
            ("/init.scope", "init.scope", nil),
        ] as [(String, String?, String?)])
    func unitAndContainer(_ path: String, _ unit: String?, _ container: String?) {
        #expect(HostProcess.unit(ofCgroup: path) == unit)
        let c = HostProcess.container(ofCgroup: path)
        #expect(c.map { "\($0.runtime) \($0.id)" } == container)
    }

    @Test("/etc/passwd: names by uid, the first of a uid wins, malformed lines skipped")
    func passwd() {
        let text =
            "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534::/nonexistent:/usr/sbin/nologin\ntoor:x:0:0::/:/bin/sh\nbad\n::5:5\nx:x:notanumber:0\n"
        let u = UserNames.parse(text)
        #expect(u[0] == "root" && u[65534] == "nobody" && u[5] == nil && u.names.count == 2)
        #expect(UserNames.read(path: "/nonexistent/passwd").names.isEmpty)
    }

    @Test("mountinfo: /proc with hidepid hides other users' processes")
    func hidepid() {
        let plain = "22 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw\n"
        let hidden = "22 1 0:21 / /proc rw,nosuid - proc proc rw,hidepid=invisible\n"
        let zero = "22 1 0:21 / /proc rw - proc proc rw,hidepid=0\n"
        let elsewhere = "30 1 0:40 / /mnt/proc rw - proc proc rw,hidepid=2\n"
        #expect(!HolderScan.procHidesProcesses(mountinfo: plain))
        #expect(HolderScan.procHidesProcesses(mountinfo: plain + hidden))
        #expect(!HolderScan.procHidesProcesses(mountinfo: zero))
        #expect(!HolderScan.procHidesProcesses(mountinfo: elsewhere))
    }

    @Test("the kernel release: Linux 6.8 dumps bound-only TCP sockets")
    func kernelRelease() {
        #expect(KernelRelease("6.18.44-fc-v857").isAtLeast(6, 8))
        #expect(KernelRelease("6.8.0-31-generic").isAtLeast(6, 8))
        #expect(!KernelRelease("6.1.0-18-amd64").isAtLeast(6, 8))
        #expect(!KernelRelease("5.15.0").isAtLeast(6, 8))
        #expect(!KernelRelease("").isAtLeast(6, 8))
    }

    @Test(
        "a failed option read is a typed reason",
        arguments: [
            (Errno.notPermitted, "notPermitted"), (.permissionDenied, "notPermitted"), (.noSuchProcess, "processGone"),
            (.badFileDescriptor, "descriptorClosed"), (.staleNFSFileHandle, "descriptorReused"), (.noFunction, "unsupportedKernel"),
            (.tooManyOpenFiles, "failed"),
        ])
    func optionReasons(_ e: Errno, _ kind: String) {
        let r = OptionsUnavailable(errno: e)
        #expect(!r.description.isEmpty && Self.kind(r) == kind)
        #expect(r.isRace == ["processGone", "descriptorClosed", "descriptorReused"].contains(kind))
    }

    static func kind(_ r: OptionsUnavailable) -> String {
        switch r {
        case .notPermitted: "notPermitted"
        case .processGone: "processGone"
        case .descriptorClosed: "descriptorClosed"
        case .descriptorReused: "descriptorReused"
        case .unsupportedKernel: "unsupportedKernel"
        case .wouldRetag: "wouldRetag"
        case .noOwner: "noOwner"
        case .holderNotFound: "holderNotFound"
        case .failed: "failed"
        }
    }

    @Test("a holder's options are not read where receiving its socket would retag it (cgroup v1 net_cls, net_prio)")
    func retagging() {
        let unified = HostProcess.controllerPaths("0::/system.slice/nginx.service\n")
        let root = HostProcess.controllerPaths("5:net_cls,net_prio:/\n0::/user.slice\n")
        let tagged = HostProcess.controllerPaths("5:net_cls,net_prio:/tagged\n0::/system.slice/nginx.service\n")
        let prio = HostProcess.controllerPaths("5:net_cls:/\n6:net_prio:/low\n0::/\n")
        #expect(CgroupTags.retagging(mine: unified, theirs: unified) == nil, "cgroup v2 alone: no such tags")
        #expect(CgroupTags.retagging(mine: root, theirs: root) == nil, "the same cgroups, whatever the v2 path")
        #expect(CgroupTags.retagging(mine: root, theirs: tagged) == "net_cls")
        #expect(CgroupTags.retagging(mine: root, theirs: prio) == "net_prio")
        #expect(CgroupTags.retagging(mine: unified, theirs: root) == "net_cls", "mounted for the holder only")
        #expect(OptionsUnavailable.wouldRetag(controller: "net_cls").description.contains("net_cls"))
    }

    @Test("what a /proc/net listing loses")
    func listingNotes() {
        let tcp = ListingNote.procNetFallback(transport: .tcp, errno: .protocolNotSupported)
        #expect(Set(tcp.lost) == [.boundOnlyTCPSockets, .device, .v6only, .freebindTransparent, .cookie])
        #expect(!ListingNote.procNetFallback(transport: .udp, errno: .noSuchFileOrDirectory).lost.contains(.boundOnlyTCPSockets))
        #expect(ListingNote.boundOnlyTCPNotDumped(kernel: "6.1.0").lost == [.boundOnlyTCPSockets])
        let l = SocketListing(sockets: [], notes: [tcp])
        #expect(l.lost(for: .tcp).contains(.device) && l.lost(for: .udp).isEmpty)
    }
}
