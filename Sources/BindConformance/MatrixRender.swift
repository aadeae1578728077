/// The self-contained HTML grid of the matrix (placeholder until the renderer lands).
public enum MatrixHTML {
    public static func render(_ r: MatrixReport) -> String { r.text }
}
