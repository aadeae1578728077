/// BindKit's version: the one place it is written. `bindcheck --version` prints it, and
/// `scripts/install.sh` and the documentation read it from there.
public enum BindKitVersion {
    /// The release, as semantic versioning writes it.
    public static let current = "0.1.0"
}
