import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Creating the folders a command writes into, with the system's reason when it cannot (under /proc, on
/// a read-only mount, below a regular file) instead of Foundation's NSError dump.
public enum Folders {
    /// Creates `path` and its missing parents; returns those it made, outermost first (so a caller that
    /// fails later can remove what it made and left empty).
    @discardableResult
    public static func create(_ path: String) throws -> [String] {
        var missing: [String] = []
        var url = URL(fileURLWithPath: path).standardizedFileURL
        while url.path != "/" {
            var info = stat()
            if stat(url.path, &info) == 0 {
                guard info.st_mode & S_IFMT == S_IFDIR else {
                    throw AtomicFile.Failure(path: url.path, message: "cannot create \(path) inside it: it is not a folder")
                }
                break
            }
            missing.insert(url.path, at: 0)
            url.deleteLastPathComponent()
        }
        for folder in missing where mkdir(folder, 0o755) != 0 && errno != EEXIST {
            let reason = String(cString: strerror(errno))
            for made in missing.prefix(while: { $0 != folder }).reversed() { rmdir(made) }
            throw AtomicFile.Failure(path: folder, message: "cannot create the folder: \(reason)")
        }
        return missing
    }

    /// Removes the folders of `create`'s result that are still empty, innermost first.
    public static func removeIfEmpty(_ made: [String]) {
        for folder in made.reversed() { rmdir(folder) }
    }
}
