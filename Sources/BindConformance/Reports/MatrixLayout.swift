import BindKit
import BindRules

/// What the Markdown and HTML renderers share: compact outcome codes, the colour of a cell, and
/// the grids the records fall into. A grid is one transport (or pair of transports), first state,
/// option pair, owner and sysctl variant; its rows are the first socket's place and its columns
/// the second socket's place. A single socket's grid has the sysctl variants and IP_FREEBIND as
/// columns; a privileged-port grid has place and port as rows, credentials and
/// ip_unprivileged_port_start as columns.
enum MatrixLayout {}

// MARK: - Codes

extension MatrixLayout {
    /// `EADDRINUSE` → `INUSE`: an errno name short enough for a table cell.
    static func short(_ errno: String) -> String {
        switch errno {
        case "EADDRINUSE": "INUSE"
        case "EADDRNOTAVAIL": "NOTAVAIL"
        case "EAFNOSUPPORT": "AFNOSUP"
        case "EPROTONOSUPPORT": "PROTONOSUP"
        case "EOPNOTSUPP": "OPNOTSUP"
        default: errno.count > 1 && errno.hasPrefix("E") ? String(errno.dropFirst()) : errno
        }
    }

    /// A step result as a code: `INUSE` for bind, `L-INUSE` for listen, `S-…` for socket(),
    /// `TW-…` for leaving TIME_WAIT.
    static func stepCode(_ result: StepResult) -> String {
        guard case .errno(let errno) = result.outcome else { return "ok" }
        let prefix =
            switch result.op {
            case .bind: ""
            case .listen: "L-"
            case .socket: "S-"
            case .timewait: "TW-"
            }
        return prefix + short(errno)
    }

    /// The first socket's setup as a code, nil when it succeeded.
    static func setupCode(_ o: CellOutcome) -> String? { o.setup.map(stepCode) }

    /// One side's outcome: `ok`, `INUSE`, `ok/L-INUSE`, `1:NOTAVAIL ok` (the first socket's setup
    /// failed, unless `withSetup` is false because the row says so).
    static func code(_ o: CellOutcome, withSetup: Bool = true) -> String {
        var s = ""
        if withSetup, let setup = setupCode(o) { s = "1:" + setup + " " }
        s += stepCode(o.result)
        if case .errno(let e)? = o.listen { s += "/L-" + short(e) }
        return s
    }

    /// A record as a table cell: the agreed code, `✗ m:… k:…` where model and kernel differ, or
    /// `skip`.
    static func code(_ r: MatrixRecord, withSetup: Bool = true) -> String {
        if r.skipped != nil { return "skip" }
        let k = r.kernel.map { code($0, withSetup: withSetup) } ?? "-"
        if r.agrees { return k }
        return "✗ m:\(r.model.map { code($0, withSetup: withSetup) } ?? "-") k:\(k)"
    }
}

// MARK: - Colours

extension MatrixLayout {
    /// The colour of a cell: the errno of the second socket's first failing step.
    enum Colour: String, CaseIterable {
        case ok, inuse, notavail, inval, acces, afnosup, other, skip

        init(errno: String?) {
            switch errno {
            case nil: self = .ok
            case "EADDRINUSE": self = .inuse
            case "EADDRNOTAVAIL": self = .notavail
            case "EINVAL": self = .inval
            case "EACCES": self = .acces
            case "EAFNOSUPPORT": self = .afnosup
            default: self = .other
            }
        }
    }

    /// How a record's square looks: the colour of the kernel's result (the model's where the
    /// kernel has none), whether that colour comes from listen() after a successful bind, whether
    /// the first socket's setup failed, and whether model and kernel differ.
    struct Square: Hashable {
        var colour: Colour
        var listen = false
        var firstFailed = false
        var mismatch = false

        init(_ r: MatrixRecord) {
            guard r.skipped == nil, let o = r.kernel ?? r.model else {
                colour = .skip
                return
            }
            let failure = o.failure
            colour = Colour(errno: failure?.errno)
            self.listen = failure?.op == .listen
            firstFailed = o.setup != nil
            mismatch = !r.agrees
        }

        /// CSS classes: the colour, `lis`, `f1`, `x`.
        var classes: String {
            var s = colour.rawValue
            if listen { s += " lis" }
            if firstFailed { s += " f1" }
            if mismatch { s += " x" }
            return s
        }
    }
}

// MARK: - Grids

extension MatrixLayout {
    /// What a grid holds fixed.
    struct Grid: Hashable {
        var group: MatrixCell.Group
        var transport: Transport
        var secondTransport: Transport?
        var state: FirstState?
        var firstOptions: ReuseOptions?
        var secondOptions: ReuseOptions?
        var sameOwner: Bool?
        /// The sysctl variant of a pair grid (single and privilege grids have theirs as columns).
        var sysctls: [SysctlSetting]

        var transportText: String { transport.rawValue + (secondTransport.map { "→" + $0.rawValue } ?? "") }
        var optionsText: String? {
            guard let firstOptions, let secondOptions else { return nil }
            return "\(firstOptions.rawValue) / \(secondOptions.rawValue)"
        }
        var ownerText: String? { sameOwner.map { $0 ? "same uid" : "other uid" } }
        var sysctlsText: String? {
            guard group == .pair || group == .crossTransport else { return nil }
            return sysctls.isEmpty ? "defaults" : sysctls.map { "\($0.name)=\($0.value)" }.joined(separator: " ")
        }

        /// `tcp · first listening · SO_REUSEADDR / SO_REUSEADDR · same uid`
        var title: String {
            var parts = [transportText]
            switch group {
            case .single: parts.append("single socket: sysctl variants and IP_FREEBIND")
            case .privilege: parts.append("privileged ports: credentials and ip_unprivileged_port_start")
            case .pair, .crossTransport:
                if let state { parts.append("first \(state.rawValue)") }
                if let optionsText { parts.append(optionsText) }
                if let ownerText { parts.append(ownerText) }
                if !sysctls.isEmpty, let sysctlsText { parts.append(sysctlsText) }
            }
            return parts.joined(separator: " · ")
        }

        /// What the rows and the columns are.
        var corner: String {
            switch group {
            case .pair, .crossTransport: "first ↓ second →"
            case .single: "socket ↓ conditions →"
            case .privilege: "socket ↓ credentials →"
            }
        }

        /// The order of grids in a report.
        var rank: [Int] {
            [
                MatrixCell.Group.allCases.firstIndex(of: group) ?? 9,
                Transport.allCases.firstIndex(of: transport) ?? 9,
                secondTransport.flatMap { Transport.allCases.firstIndex(of: $0) }.map { $0 + 1 } ?? 0,
                sysctls.isEmpty ? 0 : 1,
                state.flatMap { FirstState.allCases.firstIndex(of: $0) } ?? 0,
                firstOptions.flatMap { ReuseOptions.allCases.firstIndex(of: $0) } ?? 0,
                secondOptions.flatMap { ReuseOptions.allCases.firstIndex(of: $0) } ?? 0,
                sameOwner == false ? 1 : 0,
            ]
        }

        static func precedes(_ a: Grid, _ b: Grid) -> Bool {
            a.rank != b.rank ? a.rank.lexicographicallyPrecedes(b.rank) : a.sysctlsDescription < b.sysctlsDescription
        }

        private var sysctlsDescription: String { sysctls.map { "\($0.name)=\($0.value)" }.joined(separator: " ") }
    }

    /// A row or column: its full text, a short form for narrow headers, and its place in the order.
    struct Label: Hashable {
        var text: String
        var short: String
        var rank: Int

        static func precedes(_ a: Label, _ b: Label) -> Bool { a.rank != b.rank ? a.rank < b.rank : a.text < b.text }
    }

    /// Where a cell sits: its grid, row and column.
    struct Spot {
        var grid: Grid
        var row: Label
        var column: Label
    }

    /// `v4`, `v6d` (v6only=0), `v6o` (v6only=1), `v6` (the sysctl decides).
    static func shortKind(_ kind: SocketKind) -> String {
        switch kind {
        case .inet: "v4"
        case .inet6Dual: "v6d"
        case .inet6Only: "v6o"
        case .inet6Default: "v6"
        }
    }

    static let placeRanks: [String: Int] = {
        var ranks: [String: Int] = [:]
        for (i, p) in Matrix.places.enumerated() where ranks[p.place] == nil { ranks[p.place] = i }
        return ranks
    }()
    static let unknownRank = 1_000_000

    static func placeLabel(_ c: SocketConfig) -> Label {
        let place = c.place
        return Label(text: place, short: shortKind(c.kind) + " " + c.bracketedAddress, rank: placeRanks[place] ?? unknownRank)
    }

    /// Place labels already made (a report has a few dozen places and hundreds of thousands of cells).
    struct PlaceLabels {
        private var known: [SocketConfig: Label] = [:]
        /// The last two places asked for (a cell's two sockets): the cells come in the order of
        /// their sockets, so most places are one of these, found without hashing.
        private var recent: [(kind: SocketKind, address: String, label: Label)] = []

        mutating func label(_ c: SocketConfig) -> Label {
            for r in recent where r.kind == c.kind && r.address == c.address { return r.label }
            var plain = c
            plain.options = .none
            plain.freebind = false
            let l: Label
            if let known = known[plain] {
                l = known
            } else {
                l = placeLabel(plain)
                known[plain] = l
            }
            if recent.count == 2 { recent.removeFirst() }
            recent.append((c.kind, c.address, l))
            return l
        }
    }

    /// A sysctl as a short code: `b6`, `n4`, `n6`, or as it stands.
    static func shortSysctl(_ s: SysctlSetting) -> String {
        switch (s.name, s.value) {
        case ("net.ipv6.bindv6only", "1"): "b6"
        case ("net.ipv4.ip_nonlocal_bind", "1"): "n4"
        case ("net.ipv6.ip_nonlocal_bind", "1"): "n6"
        default: "\(s.name)=\(s.value)"
        }
    }

    /// The conditions of a single socket: sysctls and IP_FREEBIND.
    static func variantLabel(_ sysctls: [SysctlSetting], freebind: Bool) -> Label {
        var texts = sysctls.map { "\($0.name)=\($0.value)" }
        var shorts = sysctls.map(shortSysctl)
        var bits = 0
        for s in shorts {
            switch s {
            case "b6": bits |= 4
            case "n4": bits |= 2
            case "n6": bits |= 1
            default: bits |= 1 << 10
            }
        }
        if freebind {
            texts.append("IP_FREEBIND")
            shorts.append("FB")
        }
        return Label(
            text: texts.isEmpty ? "defaults" : texts.joined(separator: " "), short: shorts.isEmpty ? "–" : shorts.joined(separator: "+"),
            rank: bits * 2 + (freebind ? 1 : 0))
    }

    /// Where `cell` sits in the reports.
    static func spot(_ cell: MatrixCell, places: inout PlaceLabels) -> Spot {
        let place = places.label(cell.first)
        if let second = cell.second {
            let grid = Grid(
                group: cell.group, transport: cell.transport, secondTransport: cell.secondTransport, state: cell.state,
                firstOptions: cell.first.options, secondOptions: second.options, sameOwner: cell.sameOwner, sysctls: cell.sysctls)
            return Spot(grid: grid, row: place, column: places.label(second))
        }
        let grid = Grid(group: cell.group, transport: cell.transport, secondTransport: cell.secondTransport, state: cell.state, sysctls: [])
        if cell.port != nil || cell.credentials != nil {
            // A privileged-port cell: place and port as the row, credentials and sysctls as the column.
            var row = place
            if let port = cell.port {
                row = Label(text: "\(place.text) port \(port)", short: "\(place.short) :\(port)", rank: place.rank * 100_000 + Int(port))
            }
            let creds = cell.credentials.map { BindCredentials.allCases.firstIndex(of: $0) ?? 9 } ?? 0
            let start = cell.sysctls.first { $0.name == "net.ipv4.ip_unprivileged_port_start" }
            let startValue = start.map(\.value) ?? "1024"
            let others = cell.sysctls.filter { $0.name != "net.ipv4.ip_unprivileged_port_start" }.map { "\($0.name)=\($0.value)" }
            let who = cell.credentials.map(shortCredentials) ?? "root"
            let column = Label(
                text: ([cell.credentials?.rawValue ?? "root", "ip_unprivileged_port_start=\(startValue)"] + others).joined(separator: ", "),
                short: ([who, "start \(startValue)"] + others).joined(separator: ", "),
                rank: creds * 100_000 + (Int(startValue) ?? 99_999) + (others.isEmpty ? 0 : 50_000))
            return Spot(grid: grid, row: row, column: column)
        }
        // A single socket: the place as the row, the sysctl variant and IP_FREEBIND as the column.
        let row =
            cell.first.options == .none
            ? place
            : Label(
                text: place.text + " " + cell.first.options.rawValue, short: place.short + " " + cell.first.options.rawValue,
                rank: place.rank)
        return Spot(grid: grid, row: row, column: variantLabel(cell.sysctls, freebind: cell.first.freebind))
    }

    /// The part of `cell`'s key that its row names (the rest names its column): through the first
    /// socket and its state for a pair, through the port for a privileged-port cell, the socket
    /// without IP_FREEBIND for a single socket.
    static func rowKey(_ cell: MatrixCell) -> String {
        var parts = [cell.group.rawValue, cell.transport.rawValue]
        if let t = cell.secondTransport { parts.append("→\(t.rawValue)") }
        if cell.second != nil || cell.port != nil || cell.credentials != nil {
            parts.append(cell.first.description)
        } else {
            var plain = cell.first
            plain.freebind = false
            parts.append(plain.description)
        }
        if let state = cell.state { parts.append("(\(state.rawValue))") }
        if cell.second == nil, let port = cell.port { parts.append("port \(port)") }
        return parts.joined(separator: " ")
    }

    static func shortCredentials(_ c: BindCredentials) -> String {
        switch c {
        case .root: "root"
        case .rootWithoutBindService: "root−NBS"
        case .unprivileged: "uid 1000"
        }
    }
}

// MARK: - Gathering

/// The records of a report gathered into grids: the grids, their rows and their columns in the
/// order the reports show them.
struct MatrixGrids {
    struct Table {
        var grid: MatrixLayout.Grid
        var rows: [MatrixLayout.Label]
        var columns: [MatrixLayout.Label]
        /// The part of the key each row names (from its first record).
        var rowKeys: [String]
        /// Every record of the grid, in report order.
        var cells: [(row: Int, column: Int, record: Int)]

        /// A dense rows × columns table of record indexes (-1 where no record sits; the last wins).
        var dense: [Int] {
            var d = Array(repeating: -1, count: rows.count * columns.count)
            for c in cells { d[c.row * columns.count + c.column] = c.record }
            return d
        }
    }

    var tables: [Table]

    /// The rows (or columns) of a grid as they come: each label once, numbered in order of arrival.
    struct Axis {
        var index: [String: Int] = [:]
        var labels: [MatrixLayout.Label] = []

        /// The number last given (consecutive cells mostly share a row).
        var last = -1

        /// The label's number, and whether it is new.
        mutating func add(_ label: MatrixLayout.Label) -> (Int, new: Bool) {
            if last >= 0 && labels[last].text == label.text { return (last, false) }
            if let known = index[label.text] {
                last = known
                return (known, false)
            }
            last = labels.count
            index[label.text] = labels.count
            labels.append(label)
            return (labels.count - 1, true)
        }

        /// The labels in order, and where each label (by its number of arrival) stands in it.
        func order() -> (sorted: [MatrixLayout.Label], position: [Int]) {
            let order = labels.indices.sorted { MatrixLayout.Label.precedes(labels[$0], labels[$1]) }
            var position = Array(repeating: 0, count: order.count)
            for (new, old) in order.enumerated() { position[old] = new }
            return (order.map { labels[$0] }, position)
        }
    }

    init(_ records: [MatrixRecord]) {
        struct Builder {
            var grid: MatrixLayout.Grid
            var rows = Axis()
            var rowKeys: [String] = []
            var columns = Axis()
            var cells: [(row: Int, column: Int, record: Int)] = []
        }
        var index: [MatrixLayout.Grid: Int] = [:]
        var builders: [Builder] = []
        var places = MatrixLayout.PlaceLabels()
        // The grids found last, compared before the table is hashed: neighbouring cells mostly
        // differ only in the owner or the second socket's options, a few grids between them.
        var recent = [Int](repeating: 0, count: 4)
        var next = 0
        for (i, r) in records.enumerated() {
            let spot = MatrixLayout.spot(r.cell, places: &places)
            let g: Int
            if let hit = recent.first(where: { $0 < builders.count && builders[$0].grid == spot.grid }) {
                g = hit
            } else if let known = index[spot.grid] {
                g = known
                recent[next % recent.count] = g
                next += 1
            } else {
                g = builders.count
                index[spot.grid] = g
                builders.append(Builder(grid: spot.grid))
                recent[next % recent.count] = g
                next += 1
            }
            let (row, newRow) = builders[g].rows.add(spot.row)
            if newRow { builders[g].rowKeys.append(MatrixLayout.rowKey(r.cell)) }
            let (column, _) = builders[g].columns.add(spot.column)
            builders[g].cells.append((row, column, i))
        }
        tables = builders.sorted { MatrixLayout.Grid.precedes($0.grid, $1.grid) }.map { b in
            let (rows, rowAt) = b.rows.order()
            let (columns, columnAt) = b.columns.order()
            var rowKeys = Array(repeating: "", count: rows.count)
            for (old, key) in b.rowKeys.enumerated() { rowKeys[rowAt[old]] = key }
            return Table(
                grid: b.grid, rows: rows, columns: columns, rowKeys: rowKeys,
                cells: b.cells.map { (rowAt[$0.row], columnAt[$0.column], $0.record) })
        }
    }
}
