import Foundation
import Testing
@testable import BertCheck
#if canImport(Glibc)
import Glibc
#endif

// Issue 18, defect 11: paths are bytes. An argument that is not UTF-8 names exactly its bytes
// on disk, for reading and for writing; messages show such bytes as \xNN.

/// Runs `bertcheck` through bash so arguments can carry any bytes (`$'\xe9'`): `script` is the
/// rest of the command line after the executable, in `directory`.
private func runRaw(_ script: String, in directory: URL, setup: String = "") throws -> CLIResult {
    try runBounded(["-c", setup + "exec \"$0\" " + script, CLI.executable.path], seconds: 120,
                   executable: URL(fileURLWithPath: "/bin/bash"), in: directory).result
}

/// The names in `directory` as the bytes `readdir` returns.
private func entryBytes(_ directory: URL) -> Set<[UInt8]> {
    guard let dir = opendir(directory.path) else { return [] }
    defer { closedir(dir) }
    var names: Set<[UInt8]> = []
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix(while: { $0 != 0 })) }
        if name != [0x2E] && name != [0x2E, 0x2E] { names.insert(name) }
    }
    return names
}

private let tinyBert = TestPaths.goldens.appendingPathComponent("models/tiny-bert")

@Suite struct NonUTF8PathTests {
    /// `run --out $'g\xe9.safetensors'` writes that name byte for byte, and `verify` reads it back.
    @Test func runWritesAndVerifyReadsANonUTF8Golden() throws {
        let root = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let wrote = try runRaw("run '\(tinyBert.path)' hello --out $'g\\xe9.safetensors'", in: root)
        #expect(wrote.status == 0 && !wrote.signaled, "\(wrote.stderr)")
        #expect(entryBytes(root) == [Array("g".utf8) + [0xE9] + Array(".safetensors".utf8)])
        let verified = try runRaw("verify --golden $'g\\xe9.safetensors' --model '\(tinyBert.path)'", in: root)
        #expect(verified.status == 0, "\(verified.stdout) \(verified.stderr)")
    }

    /// A model directory, a texts file and an output, all with names that are not UTF-8 (one of
    /// them holding the bytes of U+F7E9, the escape's own range): `record` reads and writes them,
    /// `verify` reads the golden with the model from the same directory.
    @Test func recordAndVerifyWithNonUTF8ModelTextsAndOutput() throws {
        let root = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        try Data(#"["hello world", ["a pair", "of texts"]]"#.utf8).write(to: root.appendingPathComponent("texts.json"))
        let setup = "set -e; mkdir $'m\\xff\\xef\\x9f\\xa9'; cp '\(tinyBert.path)'/* $'m\\xff\\xef\\x9f\\xa9'/; mv texts.json $'t\\xfe.json'; "
        let recorded = try runRaw("record $'m\\xff\\xef\\x9f\\xa9' --texts-file $'t\\xfe.json' --out $'o\\xe9.safetensors'", in: root, setup: setup)
        #expect(recorded.status == 0 && !recorded.signaled, "\(recorded.stderr)")
        #expect(recorded.stdout.hasPrefix("wrote o\\xe9.safetensors: 2 rows"), "\(recorded.stdout)")
        let names = entryBytes(root)
        #expect(names == [Array("m".utf8) + [0xFF, 0xEF, 0x9F, 0xA9], Array("t".utf8) + [0xFE] + Array(".json".utf8),
                          Array("o".utf8) + [0xE9] + Array(".safetensors".utf8)], "\(names)")
        let verified = try runRaw("verify --golden $'o\\xe9.safetensors' --model $'m\\xff\\xef\\x9f\\xa9'", in: root)
        #expect(verified.status == 0, "\(verified.stdout) \(verified.stderr)")
        // The same golden checked against the model through a name that differs in one byte: refused, named as given.
        let missing = try runRaw("verify --golden $'o\\xe9.safetensors' --model $'m\\xfe'", in: root)
        expectInputError(missing, naming: "m\\xfe", containing: "No such file or directory")
    }
}

@Suite struct PathBytesTests {
    /// Any bytes decode to a path that encodes to the same bytes.
    @Test func everyByteStringRoundTrips() {
        var generator = SystemRandomNumberGenerator()
        let samples: [[UInt8]] = [
            Array("plain/ascii.safetensors".utf8), [0x67, 0xE9], [0xFF, 0xFE], [0xEF, 0x9F, 0xA9], [0xEF, 0x9E, 0x80],
            [0xC3, 0xA9, 0xE9], [0xED, 0xA0, 0x80], [0xC0, 0xAF], [0xF4, 0x90, 0x80, 0x80], Array("日本".utf8) + [0x80],
        ] + (0..<2000).map { _ in (0..<Int.random(in: 0...12, using: &generator)).map { _ in UInt8.random(in: 1...255, using: &generator) } }
        for bytes in samples {
            let path = PathBytes.decode(bytes)
            #expect(PathBytes.encode(path).dropLast().map { UInt8(bitPattern: $0) } == bytes, "\(bytes)")
        }
    }

    @Test func validUTF8OutsideTheEscapeRangeIsUnchanged() {
        #expect(PathBytes.decode(Array("café/模型.bin".utf8)) == "café/模型.bin")
        #expect(PathBytes.display(PathBytes.decode([0x67, 0xE9, 0x2E])) == "g\\xe9.")
        #expect(PathBytes.text(PathBytes.decode([0x67, 0xE9])) == "g\u{FFFD}")
    }
}
