import BindKit
import BindTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Every name of the table next to the constant the C library gives it.
private let glibcConstants: [(String, Int32)] = [
    ("EPERM", EPERM),
    ("ENOENT", ENOENT),
    ("ESRCH", ESRCH),
    ("EINTR", EINTR),
    ("EIO", EIO),
    ("ENXIO", ENXIO),
    ("E2BIG", E2BIG),
    ("ENOEXEC", ENOEXEC),
    ("EBADF", EBADF),
    ("ECHILD", ECHILD),
    ("EAGAIN", EAGAIN),
    ("ENOMEM", ENOMEM),
    ("EACCES", EACCES),
    ("EFAULT", EFAULT),
    ("ENOTBLK", ENOTBLK),
    ("EBUSY", EBUSY),
    ("EEXIST", EEXIST),
    ("EXDEV", EXDEV),
    ("ENODEV", ENODEV),
    ("ENOTDIR", ENOTDIR),
    ("EISDIR", EISDIR),
    ("EINVAL", EINVAL),
    ("ENFILE", ENFILE),
    ("EMFILE", EMFILE),
    ("ENOTTY", ENOTTY),
    ("ETXTBSY", ETXTBSY),
    ("EFBIG", EFBIG),
    ("ENOSPC", ENOSPC),
    ("ESPIPE", ESPIPE),
    ("EROFS", EROFS),
    ("EMLINK", EMLINK),
    ("EPIPE", EPIPE),
    ("EDOM", EDOM),
    ("ERANGE", ERANGE),
    ("EDEADLK", EDEADLK),
    ("ENAMETOOLONG", ENAMETOOLONG),
    ("ENOLCK", ENOLCK),
    ("ENOSYS", ENOSYS),
    ("ENOTEMPTY", ENOTEMPTY),
    ("ELOOP", ELOOP),
    ("ENOMSG", ENOMSG),
    ("EIDRM", EIDRM),
    ("ECHRNG", ECHRNG),
    ("EL2NSYNC", EL2NSYNC),
    ("EL3HLT", EL3HLT),
    ("EL3RST", EL3RST),
    ("ELNRNG", ELNRNG),
    ("EUNATCH", EUNATCH),
    ("ENOCSI", ENOCSI),
    ("EL2HLT", EL2HLT),
    ("EBADE", EBADE),
    ("EBADR", EBADR),
    ("EXFULL", EXFULL),
    ("ENOANO", ENOANO),
    ("EBADRQC", EBADRQC),
    ("EBADSLT", EBADSLT),
    ("EBFONT", EBFONT),
    ("ENOSTR", ENOSTR),
    ("ENODATA", ENODATA),
    ("ETIME", ETIME),
    ("ENOSR", ENOSR),
    ("ENONET", ENONET),
    ("ENOPKG", ENOPKG),
    ("EREMOTE", EREMOTE),
    ("ENOLINK", ENOLINK),
    ("EADV", EADV),
    ("ESRMNT", ESRMNT),
    ("ECOMM", ECOMM),
    ("EPROTO", EPROTO),
    ("EMULTIHOP", EMULTIHOP),
    ("EDOTDOT", EDOTDOT),
    ("EBADMSG", EBADMSG),
    ("EOVERFLOW", EOVERFLOW),
    ("ENOTUNIQ", ENOTUNIQ),
    ("EBADFD", EBADFD),
    ("EREMCHG", EREMCHG),
    ("ELIBACC", ELIBACC),
    ("ELIBBAD", ELIBBAD),
    ("ELIBSCN", ELIBSCN),
    ("ELIBMAX", ELIBMAX),
    ("ELIBEXEC", ELIBEXEC),
    ("EILSEQ", EILSEQ),
    ("ERESTART", ERESTART),
    ("ESTRPIPE", ESTRPIPE),
    ("EUSERS", EUSERS),
    ("ENOTSOCK", ENOTSOCK),
    ("EDESTADDRREQ", EDESTADDRREQ),
    ("EMSGSIZE", EMSGSIZE),
    ("EPROTOTYPE", EPROTOTYPE),
    ("ENOPROTOOPT", ENOPROTOOPT),
    ("EPROTONOSUPPORT", EPROTONOSUPPORT),
    ("ESOCKTNOSUPPORT", ESOCKTNOSUPPORT),
    ("EOPNOTSUPP", EOPNOTSUPP),
    ("EPFNOSUPPORT", EPFNOSUPPORT),
    ("EAFNOSUPPORT", EAFNOSUPPORT),
    ("EADDRINUSE", EADDRINUSE),
    ("EADDRNOTAVAIL", EADDRNOTAVAIL),
    ("ENETDOWN", ENETDOWN),
    ("ENETUNREACH", ENETUNREACH),
    ("ENETRESET", ENETRESET),
    ("ECONNABORTED", ECONNABORTED),
    ("ECONNRESET", ECONNRESET),
    ("ENOBUFS", ENOBUFS),
    ("EISCONN", EISCONN),
    ("ENOTCONN", ENOTCONN),
    ("ESHUTDOWN", ESHUTDOWN),
    ("ETOOMANYREFS", ETOOMANYREFS),
    ("ETIMEDOUT", ETIMEDOUT),
    ("ECONNREFUSED", ECONNREFUSED),
    ("EHOSTDOWN", EHOSTDOWN),
    ("EHOSTUNREACH", EHOSTUNREACH),
    ("EALREADY", EALREADY),
    ("EINPROGRESS", EINPROGRESS),
    ("ESTALE", ESTALE),
    ("EUCLEAN", EUCLEAN),
    ("ENOTNAM", ENOTNAM),
    ("ENAVAIL", ENAVAIL),
    ("EISNAM", EISNAM),
    ("EREMOTEIO", EREMOTEIO),
    ("EDQUOT", EDQUOT),
    ("ENOMEDIUM", ENOMEDIUM),
    ("EMEDIUMTYPE", EMEDIUMTYPE),
    ("ECANCELED", ECANCELED),
    ("ENOKEY", ENOKEY),
    ("EKEYEXPIRED", EKEYEXPIRED),
    ("EKEYREVOKED", EKEYREVOKED),
    ("EKEYREJECTED", EKEYREJECTED),
    ("EOWNERDEAD", EOWNERDEAD),
    ("ENOTRECOVERABLE", ENOTRECOVERABLE),
    ("ERFKILL", ERFKILL),
    ("EHWPOISON", EHWPOISON),
    ("EWOULDBLOCK", EWOULDBLOCK),
    ("EDEADLOCK", EDEADLOCK),
    ("ENOTSUP", ENOTSUP),
]

@Suite(.checksLeaks) struct ErrnoNamesTests {
    @Test func everyEntryMatchesGlibc() {
        #expect(glibcConstants.count == ErrnoName.all.count + ErrnoName.aliases.count)
        for (name, code) in glibcConstants {
            #expect(ErrnoName.code(name) == code, "\(name)")
        }
        for entry in ErrnoName.all {
            #expect(glibcConstants.contains { $0.0 == entry.name && $0.1 == entry.code }, "\(entry.name)")
        }
    }

    @Test func tableRunsFromEPERMToEHWPOISONWithTwoGaps() {
        let codes = ErrnoName.all.map(\.code)
        #expect(codes == codes.sorted())
        #expect(Set(codes).count == codes.count)
        #expect(codes.first == 1)
        #expect(codes.last == 133)
        #expect(Set(1...133).subtracting(codes) == [41, 58])
        #expect(ErrnoName.all.first?.name == "EPERM")
        #expect(ErrnoName.all.last?.name == "EHWPOISON")
        #expect(Set(ErrnoName.all.map(\.name)).count == ErrnoName.all.count)
    }

    @Test func namesAndCodesAreInverse() {
        for entry in ErrnoName.all {
            #expect(ErrnoName.name(entry.code) == entry.name)
            #expect(ErrnoName.code(entry.name) == entry.code)
            #expect(ErrnoName.primaryName(entry.name) == entry.name)
        }
    }

    @Test(arguments: [
        ("EWOULDBLOCK", "EAGAIN", Int32(11)),
        ("EDEADLOCK", "EDEADLK", Int32(35)),
        ("ENOTSUP", "EOPNOTSUPP", Int32(95)),
    ])
    func aliasesMapToThePrimaryName(alias: String, primary: String, code: Int32) {
        #expect(ErrnoName.code(alias) == code)
        #expect(ErrnoName.name(code) == primary)
        #expect(ErrnoName.primaryName(alias) == primary)
    }

    @Test func aliasConstantsAgreeWithGlibc() {
        #expect(ErrnoName.code("EWOULDBLOCK") == EWOULDBLOCK)
        #expect(ErrnoName.code("EDEADLOCK") == EDEADLOCK)
        #expect(ErrnoName.code("ENOTSUP") == ENOTSUP)
    }

    @Test(arguments: [Int32(0), -1, 41, 58, 134, 4096, .max, .min])
    func codesWithoutANameHaveNone(code: Int32) {
        #expect(ErrnoName.name(code) == nil)
    }

    @Test(arguments: ["", "eaddrinuse", "EADDRINUSE ", "E", "EFOO", "ok", "98"])
    func unknownNamesHaveNoCode(name: String) {
        #expect(ErrnoName.code(name) == nil)
        #expect(ErrnoName.primaryName(name) == nil)
    }

    @Test func namesTheBindErrorsOfTheScenarioFormat() {
        #expect(ErrnoName.code("EADDRINUSE") == EADDRINUSE)
        #expect(ErrnoName.code("EADDRNOTAVAIL") == EADDRNOTAVAIL)
        #expect(ErrnoName.code("EACCES") == EACCES)
        #expect(ErrnoName.code("EINVAL") == EINVAL)
        #expect(ErrnoName.code("EAFNOSUPPORT") == EAFNOSUPPORT)
        #expect(ErrnoName.code("ENODEV") == ENODEV)
        #expect(ErrnoName.code("EPERM") == EPERM)
    }
}
