// Fuzz target for sysctl names and values: the name check that guards every /proc/sys path,
// and the parser of the bind sysctls' text. Input: "NAME=VALUE".
import BindKit

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let parts = text.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
    let name = String(parts[0])
    let value = parts.count > 1 ? String(parts[1]) : ""
    if let path = try? Sysctl.path(name) {
        if !path.hasPrefix("/proc/sys/") || path.contains("..") { fatalError("path escapes /proc/sys: \(path)") }
    }
    var s = BindSysctls()
    if (try? s.apply(name: name, value: value)) != nil {
        if s.localPortRange.low > 65535 { fatalError("impossible") }
    }
    return 0
}
