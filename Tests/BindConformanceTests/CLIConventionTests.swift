import BindKit
import BindTestSupport
import Foundation
import Testing

/// bindcheck's conventions: `--version`, one line and exit 64 for every usage error, the way to
/// pass a value that starts with '-', completions, and `parse`'s input and `here:` line.
@Suite("bindcheck conventions", .checksLeaks, .enabled(if: bindcheckPath != nil, "bindcheck is not built"))
struct CLIConventionTests {
    @Test func versionIsTheLibrarys() throws {
        let r = try runBindcheck(["--version"])
        #expect(r.status == 0)
        #expect(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == BindKitVersion.current)
    }

    @Test(
        "a value that starts with '-': one line naming `--`, exit 64",
        arguments: [
            (["parse", "-1"], "`bindcheck parse -- -1`"),
            (["parse", "--json", "-1"], "`bindcheck parse -- -1`"),
            (["parse", "-::1"], "`bindcheck parse -- -::1`"),
            (["explain", "--udp", "-1:80"], "`bindcheck explain -- -1:80`"),
        ])
    func dashedValue(_ args: [String], hint: String) throws {
        let r = try runBindcheck(args)
        #expect(r.status == 64)
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.count == 1, "\(r.stderr)")
        #expect(r.stderr.contains("to ") && r.stderr.contains(hint), "\(r.stderr)")
        #expect(r.stdout.isEmpty)
    }

    @Test(
        "other usage errors: one line, exit 64, no `--` hint for a declared option",
        arguments: [["parse"], ["explain", "--udp"], ["parse", "--json"], ["nosuchcommand"], ["soak", "--workers", "x"]])
    func usageErrorIsOneLine(_ args: [String]) throws {
        let r = try runBindcheck(args)
        #expect(r.status == 64)
        #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
        #expect(r.stderr.hasPrefix("bindcheck: "))
        #expect(!r.stderr.contains(" -- "), "\(r.stderr)")
    }

    @Test func afterDashDashTheValueIsParsed() throws {
        let r = try runBindcheck(["parse", "--", "-1"])
        #expect(r.status == 64)
        #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
        #expect(r.stderr.contains("-1") && !r.stderr.contains("`bindcheck parse -- -1`"))
    }

    @Test(arguments: ["bash", "zsh", "fish"])
    func completionScript(_ shell: String) throws {
        let r = try runBindcheck(["--generate-completion-script", shell])
        #expect(r.status == 0)
        #expect(r.stdout.contains("bindcheck") && r.stdout.contains("explain") && r.stdout.contains("parse"))
    }

    @Test func jsonInputIsAsGiven() throws {
        let r = try runBindcheck(["parse", "--json", "--legacy", "0x7f000001:80"])
        #expect(r.status == 0, "\(r.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(object["input"] as? String == "0x7f000001:80")
        #expect(object["canonical"] as? String == "127.0.0.1:80")
        let v6 = try runBindcheck(["parse", "--json", "2001:0DB8:0::1"])
        let o6 = try #require(try JSONSerialization.jsonObject(with: Data(v6.stdout.utf8)) as? [String: Any])
        #expect(o6["input"] as? String == "2001:0DB8:0::1")
        #expect(o6["canonical"] as? String == "2001:db8::1")
    }

    /// Where the model refuses the address, the `here:` line gives the same errno as the
    /// predictions; where it accepts, no `here:` line speaks of a failure.
    @Test(
        "the here: line agrees with the bind predictions",
        arguments: [
            "fe80::1%nosuch", "fe80::1", "fe80::1%1", "10.1.2.3", "::ffff:10.1.2.3", "127.0.0.2", "255.255.255.255", "224.0.0.1",
            "ff02::1", "ff02::1%1", "::1", "2001:db8::99", "0.0.0.0", "::",
        ])
    func hereAgreesWithPredictions(_ address: String) throws {
        let r = try runBindcheck(["parse", "--json", address])
        #expect(r.status == 0, "\(r.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let meaning = try #require(object["meaning"] as? [String])
        let predictions = try #require(object["predictions"] as? [[String: String]])
        let udp = try #require(predictions.first { $0["transport"] == "udp" }?["result"])
        let failing = meaning.filter { $0.contains("fails with") }
        if udp == "ok" {
            #expect(failing.isEmpty, "\(address): udp ok, yet \(failing)")
        } else {
            #expect(failing.count == 1 && failing[0].contains("fails with \(udp)"), "\(address): udp \(udp), here: \(meaning)")
        }
    }
}
