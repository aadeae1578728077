import BindKit

/// The socket a step collided with, as a person reads it.
public struct Holder: Hashable, Sendable, Codable {
    public var id: String
    public var address: String
    public var summary: String

    init(_ s: ModelSocket) {
        id = s.id
        address = s.bound?.text ?? "(not bound)"
        summary = s.summary
    }
}

/// Why the model predicts what it predicts: the rule, the kernel function that applies it, the
/// socket it collided with, and what would change the outcome.
public struct Reason: Hashable, Sendable, Codable, CustomStringConvertible {
    /// A short stable name of the rule, e.g. `privileged-port`, `conflict`.
    public var rule: String
    /// The kernel function that decides, e.g. `__inet_bind`.
    public var kernel: String
    /// The port the step was about (a bind's, a listen's, a TIME_WAIT entry's), when it has one:
    /// the text names it too, and a report that lists one reason for many ports reads it here.
    public var port: UInt16?
    /// The words (text, holder, fix), nil when there are none. They sit together in one box
    /// because a model that does not explain (`BindModel.explains` false, as the matrix's workers
    /// run it for every step of every cell) makes reasons whose words nobody reads: such a reason
    /// must be no heavier to pass around than its rule and kernel function.
    private var words: Words?

    /// Immutable, so that copies of a reason share one box.
    private final class Words: Sendable {
        let text: String
        let holder: Holder?
        let fix: String?

        init(text: String, holder: Holder?, fix: String?) {
            self.text = text
            self.holder = holder
            self.fix = fix
        }
    }

    public var text: String {
        get { words?.text ?? "" }
        set { setWords(text: newValue, holder: holder, fix: fix) }
    }

    public var holder: Holder? {
        get { words?.holder }
        set { setWords(text: text, holder: newValue, fix: fix) }
    }

    public var fix: String? {
        get { words?.fix }
        set { setWords(text: text, holder: holder, fix: newValue) }
    }

    private mutating func setWords(text: String, holder: Holder?, fix: String?) {
        words = text.isEmpty && holder == nil && fix == nil ? nil : Words(text: text, holder: holder, fix: fix)
    }

    public var description: String {
        var s = text
        if let fix { s += "; " + fix }
        return s
    }

    /// The words are built only when someone will read them (`explains`, as `BindModel.explains`).
    init(
        rule: String, kernel: String, text: @autoclosure () -> String, holder: @autoclosure () -> Holder? = nil,
        fix: @autoclosure () -> String? = nil, explains: Bool
    ) {
        self.rule = rule
        self.kernel = kernel
        if explains { setWords(text: text(), holder: holder(), fix: fix()) }
    }

    // Equality, hashing and coding as if text, holder and fix were stored properties: those of
    // `Fields`, which has them so (its synthesized coding gives the same JSON).

    private struct Fields: Hashable, Codable {
        var rule: String
        var kernel: String
        var port: UInt16?
        var text: String
        var holder: Holder?
        var fix: String?
    }

    private var fields: Fields { Fields(rule: rule, kernel: kernel, port: port, text: text, holder: holder, fix: fix) }

    public static func == (a: Reason, b: Reason) -> Bool { a.fields == b.fields }

    public func hash(into hasher: inout Hasher) { fields.hash(into: &hasher) }

    public init(from decoder: any Decoder) throws {
        let f = try Fields(from: decoder)
        self.init(rule: f.rule, kernel: f.kernel, text: f.text, holder: f.holder, fix: f.fix, explains: true)
        port = f.port
    }

    public func encode(to encoder: any Encoder) throws { try fields.encode(to: encoder) }
}
