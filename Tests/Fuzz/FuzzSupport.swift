// Shared by every fuzz entry (Tests/Fuzz/Fuzz*.swift). Not part of the SwiftPM package: Scripts/fuzz.sh
// compiles the library sources together with one entry file and this file, with
// `swiftc -sanitize=fuzzer,address -parse-as-library`, so entries may use internal API.
import Foundation

/// A per-process scratch directory in memory (/dev/shm when present): the readers take paths and
/// map files, so each input is written to a real file and read the way a user's file would be.
enum FuzzScratch {
    static let directory: String = {
        let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        let dir = base + "/bertcheck-fuzz-\(getpid())"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }()

    /// Writes `bytes` to `name` inside the scratch directory and returns its path.
    static func write(_ bytes: UnsafeBufferPointer<UInt8>, to name: String) -> String {
        let path = directory + "/" + name
        if name.contains("/") {
            try? FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        }
        let data = bytes.baseAddress.map { Data(bytes: $0, count: bytes.count) } ?? Data()
        if !FileManager.default.createFile(atPath: path, contents: data) {
            fatalError("fuzz harness cannot write \(path)")
        }
        return path
    }
}

/// The contract for bad input: a reader either succeeds or throws an error that names the file.
/// Anything else (a trap, a hang, an error that does not say which file) is a finding.
func expectNamedFailure(_ body: () throws -> Void) {
    do {
        try body()
    } catch let error as FileError {
        // The file may be the input or one beside it (config.json, a shard): it must be one of ours.
        if !error.path.hasPrefix(FuzzScratch.directory) {
            fatalError("error does not name an input file: \(error.oneLine)")
        }
    } catch {
        fatalError("input problem not reported as a FileError: \(error.oneLine)")
    }
}
