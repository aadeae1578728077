import BindConformance
import BindKit
import BindRules
import BindTestSupport
import Foundation
import Testing

// The whole default matrix through the model for each kernel scripts/kernels.sh boots, against
// the model for 6.18: the cells where the rules of 5.10.223, 6.1.176 and 6.12.117 answer
// otherwise. Under those kernels the matrix ran with 0 disagreements (model told the guest's
// kernel); against the 6.18 model, 6.1.176's kernel differed on 392 cells, all of group F
// (KernelChanges.v4MappedBhash2): TCP, a first inet6 socket on [::ffff:0.0.0.0], a second on
// [::ffff:127.0.0.1] or [::ffff:192.0.2.1]; 5.10.223 and 6.12.117 on none.

@Suite("The matrix under each kernel's rules", .checksLeaks)
struct KernelMatrixTests {
    static let releases = ["5.10.223", "6.1.167", "6.1.176", "6.12.117"]

    /// The matrix cells each of `releases` answers otherwise than 6.18.44, in one pass.
    /// Under BINDKIT_TEST_MATRIX_SAMPLE (the sanitizer runs), every n-th cell of the matrix.
    static func differing() throws -> (cells: Int, differing: [String: [MatrixCell]]) {
        var all = Matrix.cells()
        if let sample = ProcessInfo.processInfo.environment["BINDKIT_TEST_MATRIX_SAMPLE"].flatMap(Int.init), sample > 0,
            sample < all.count
        {
            let step = all.count / sample
            all = all.indices.filter { $0 % step == 0 }.map { all[$0] }
        }
        let kernels: [KernelVersion?] = [KernelVersion(6, 18, 44)] + releases.map { KernelVersion($0) }
        var models: [[SysctlSetting]: [BindModel]] = [:]
        var out: [String: [MatrixCell]] = [:]
        for (i, cell) in all.enumerated() {
            let m: [BindModel]
            if let known = models[cell.sysctls] {
                m = known
            } else {
                var host = try Fixture.describedHost(sysctls: cell.sysctls)
                m = kernels.map { k in
                    host.kernel = k
                    return BindModel(host: host, explains: false)
                }
                models[cell.sysctls] = m
            }
            let steps = Matrix.steps(cell, port: MatrixRunner.firstPort &+ UInt16(i % 16000))
            let newest = CellRun.modelOutcome(cell, steps, model: m[0]).0
            for (r, model) in zip(releases, m.dropFirst())
            where CellRun.modelOutcome(cell, steps, model: model).0 != newest {
                out[r, default: []].append(cell)
            }
        }
        return (all.count, out)
    }

    @Test("only 6.1.176 differs from 6.18, on the 392 cells of a TCP holder on [::ffff:0.0.0.0]")
    func cellsThatDiffer() throws {
        let (n, d) = try Self.differing()
        #expect(d["5.10.223"] == nil)
        #expect(d["6.12.117"] == nil)
        // Before the backport (6.1.168) 6.1 answered these cells as 6.18 does.
        #expect(d["6.1.167"] == nil)
        let cells = d["6.1.176"] ?? []
        if n == Matrix.cells().count { #expect(cells.count == 392) } else { #expect(cells.count <= 392) }
        for c in cells {
            #expect(c.transport == .tcp && (c.secondTransport ?? .tcp) == .tcp, "\(c)")
            #expect(c.first.address == "::ffff:0.0.0.0", "\(c)")
            #expect(["::ffff:127.0.0.1", "::ffff:192.0.2.1"].contains(c.second?.address ?? ""), "\(c)")
        }
    }
}
