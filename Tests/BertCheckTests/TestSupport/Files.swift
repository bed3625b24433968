import Foundation
import Testing
@testable import BertCheck

/// The committed checkpoints under goldens/checkpoints/.
enum TinyCheckpoints {
    static func path(_ name: String) -> String { TestPaths.goldens.appendingPathComponent("checkpoints/\(name)").path }

    /// Copies a committed checkpoint directory into a fresh temporary directory (to break it).
    static func copy(_ name: String) throws -> URL {
        let dir = TestPaths.temporaryDirectory().appendingPathComponent(name)
        try FileManager.default.copyItem(atPath: path(name), toPath: dir.path)
        return dir
    }
}

/// Builds the bytes of a safetensors file by hand, so each test can break exactly one rule.
func safetensorsBytes(header: String, data: [UInt8] = [], declaredLength: UInt64? = nil, headerBytes: [UInt8]? = nil) -> [UInt8] {
    let json = headerBytes ?? Array(header.utf8)
    let length = declaredLength ?? UInt64(json.count)
    return (0..<8).map { UInt8(truncatingIfNeeded: length >> (8 * UInt64($0))) } + json + data
}

/// Writes `bytes` to a fresh temporary file and returns its path.
func temporaryFile(_ bytes: [UInt8], name: String = "model.safetensors") throws -> String {
    let dir = TestPaths.temporaryDirectory()
    let path = dir.appendingPathComponent(name).path
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    return path
}

/// The JSON object in `text`, or an empty one.
func jsonObject(_ text: String) -> [String: Any] {
    (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
}
