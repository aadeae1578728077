import CBindShim
import SystemPackage

extension Interface {
    /// The index of the interface called `name` in the calling thread's network namespace (ENODEV
    /// when there is none). The corresponding C function is if_nametoindex(3).
    public static func index(named name: String) throws(Errno) -> UInt32 { try _index(named: name).get() }

    static func _index(named name: String) -> Result<UInt32, Errno> {
        shimResult(bk_if_nametoindex(name)).map { UInt32($0) }
    }

    /// The name of the interface with index `index` in the calling thread's network namespace
    /// (ENXIO when there is none). The corresponding C function is if_indextoname(3).
    public static func name(ofIndex index: UInt32) throws(Errno) -> String { try _name(ofIndex: index).get() }

    static func _name(ofIndex index: UInt32) -> Result<String, Errno> {
        var buffer = [CChar](repeating: 0, count: Int(BK_IFNAMSIZ))
        return shimVoid(bk_if_indextoname(index, &buffer)).map {
            String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }
}
