import Foundation
import Testing
@testable import BertCheck

@Suite struct NpzTests {
    /// A .npy member with the given header dict (padded like numpy pads it) and data.
    func npy(_ dict: String, data: [UInt8], version: UInt8 = 1) -> [UInt8] {
        var header = Array(dict.utf8)
        let prefix = version == 1 ? 10 : 12
        while (prefix + header.count + 1) % 64 != 0 { header.append(0x20) }
        header.append(0x0A)
        let length: [UInt8] = version == 1 ? le(UInt16(header.count)) : le(UInt32(header.count))
        return [0x93] + Array("NUMPY".utf8) + [version, 0] + length + header + data
    }

    func npzProblem(_ members: [(String, [UInt8])]) throws -> NpzProblem? {
        var builder = ZipBuilder()
        builder.zip64Records = false
        for (name, data) in members { builder.add(name, data) }
        let path = try temporaryFile(builder.build(), name: "weights.npz")
        return problem(NpzProblem.self) { try NpzReader.read(path) }
    }

    let floatData: [UInt8] = [Float(1), 2, 3, 4, 5, 6].flatMap { le($0.bitPattern) }

    @Test(arguments: ["weights.npz", "weights-compressed.npz"])
    func readsNumpyArchivesExactly(file: String) throws {
        let tensors = try NpzReader.read(PyTorchFixtures.path("npz/" + file))
        let expected = try expectedTensors(PyTorchFixtures.path("npz/expected.safetensors"))
        #expect(Set(tensors.map { $0.name }) == Set(expected.map { $0.name }))
        #expect(tensors.first?.name == "embeddings.word_embeddings.weight", "archive order, names without .npy")
        let byName = Dictionary(uniqueKeysWithValues: tensors.map { ($0.name, $0) })
        for want in expected {
            let tensor = try #require(byName[want.name])
            #expect(tensor.dtype.rawValue == want.dtype, "\(want.name)")
            #expect(tensor.shape == want.shape, "\(want.name)")
            #expect(Array(tensor.data) == want.bytes, "\(want.name) bytes differ")
            if tensor.dtype.size > 1, tensor.byteCount > 0 {
                #expect(Int(bitPattern: tensor.data.baseAddress) % tensor.dtype.size == 0, "\(want.name) aligned")
            }
        }
        #expect(byName["extra.scalar"]?.shape == [])
        #expect(byName["extra.empty"]?.shape == [0, 3])
    }

    @Test func readsVersionTwoAndThreeHeaders() throws {
        for version: UInt8 in [2, 3] {
            var builder = ZipBuilder()
            builder.add("w.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", data: floatData, version: version))
            let path = try temporaryFile(builder.build(), name: "weights.npz")
            let tensors = try NpzReader.read(path)
            #expect(tensors.map { $0.name } == ["w"])
            #expect(tensors.first?.floats() == [1, 2, 3, 4, 5, 6])
        }
    }

    @Test func refusesFortranOrder() throws {
        let member = npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", data: floatData)
        #expect(try npzProblem([("w.npy", member)]) == .fortranOrder(entry: "w.npy"))
    }

    @Test func refusesFortranOrderInCommittedArchive() throws {
        // Flip the flag in numpy's own stored archive (same length: 'False' -> 'True ').
        let bytes = try PyTorchFixtures.bytes("npz/weights.npz")
        let path = try temporaryFile(replacing("'fortran_order': False", with: "'fortran_order': True ", in: bytes), name: "w.npz")
        #expect(problem(NpzProblem.self) { try NpzReader.read(path) } == .fortranOrder(entry: "embeddings.word_embeddings.weight.npy"))
    }

    @Test func refusesBadHeaders() throws {
        let cases: [(String, [UInt8])] = [
            ("magic", Array("NOTNUMPY and more bytes".utf8)),
            ("short", [0x93, 0x4E, 0x55]),
            ("version", [0x93] + Array("NUMPY".utf8) + [4, 0, 0, 0]),
            ("length", [0x93] + Array("NUMPY".utf8) + [1, 0] + le(UInt16(60_000)) + Array("{}".utf8)),
            ("syntax", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3) ", data: floatData)),
            ("keys", npy("{'descr': '<f4', 'shape': (2, 3), }", data: floatData)),
            ("extra key", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (6,), 'x': True}", data: floatData)),
            ("negative", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (-2, 3), }", data: floatData)),
            ("code", npy("{'descr': __import__('os').system('ls'), 'fortran_order': False, 'shape': (6,), }", data: floatData)),
            ("structured", npy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (6,), }", data: floatData)),
            ("dtype", npy("{'descr': '>f4', 'fortran_order': False, 'shape': (6,), }", data: floatData)),
            ("object", npy("{'descr': '|O', 'fortran_order': False, 'shape': (6,), }", data: floatData)),
            ("short data", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 4), }", data: floatData)),
            ("long data", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }", data: floatData)),
            ("overflow", npy("{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", data: floatData)),
            ("huge", npy("{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999999,), }", data: floatData)),
        ]
        var seen: [String: NpzProblem] = [:]
        for (label, member) in cases {
            guard let found = try npzProblem([("w.npy", member)]) else { Issue.record("\(label): accepted"); continue }
            seen[label] = found
        }
        #expect(seen["magic"] == .badMagic(entry: "w.npy"))
        #expect(seen["short"] == .headerTruncated(entry: "w.npy"))
        #expect(seen["version"] == .unsupportedVersion(entry: "w.npy", major: 4, minor: 0))
        #expect(seen["length"] == .headerTruncated(entry: "w.npy"))
        for label in ["syntax", "keys", "extra key", "negative", "code", "structured", "huge"] {
            guard case .headerInvalid? = seen[label] else { Issue.record("\(label): \(String(describing: seen[label]))"); continue }
        }
        #expect(seen["dtype"] == .unsupportedDtype(entry: "w.npy", descr: ">f4"))
        #expect(seen["object"] == .unsupportedDtype(entry: "w.npy", descr: "|O"))
        #expect(seen["short data"] == .dataSizeMismatch(entry: "w.npy", expected: 32, actual: 24))
        #expect(seen["long data"] == .dataSizeMismatch(entry: "w.npy", expected: 20, actual: 24))
        #expect(seen["overflow"] == .shapeOverflow(entry: "w.npy"))
    }

    @Test func refusesMembersThatAreNotArrays() throws {
        #expect(try npzProblem([("readme.txt", Array("hello".utf8))]) == .notNpy(entry: "readme.txt"))
    }

    @Test func refusesBrokenContainers() throws {
        let path = try temporaryFile(Array("not a zip".utf8), name: "weights.npz")
        #expect(problem(ZipProblem.self) { try NpzReader.read(path) } == .notAZip)
        // Corrupt deflate data in savez_compressed output.
        var bytes = try PyTorchFixtures.bytes("npz/weights-compressed.npz")
        let nameLength = Int(bytes[26]) | Int(bytes[27]) << 8, extraLength = Int(bytes[28]) | Int(bytes[29]) << 8
        let data = 30 + nameLength + extraLength
        for index in data..<data + 4 { bytes[index] = 0xFF }
        let corrupt = try temporaryFile(bytes, name: "weights-compressed.npz")
        guard case .corruptDeflate? = problem(ZipProblem.self, { try NpzReader.read(corrupt) }) else {
            Issue.record("corrupt deflate accepted"); return
        }
    }

    @Test func errorNamesFileAndMember() throws {
        let member = npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", data: floatData)
        var builder = ZipBuilder()
        builder.add("layer.weight.npy", member)
        let path = try temporaryFile(builder.build(), name: "weights.npz")
        do {
            _ = try NpzReader.read(path)
            Issue.record("accepted")
        } catch {
            #expect(error.oneLine.contains(path))
            #expect(error.oneLine.contains("layer.weight.npy"))
            #expect(error.oneLine.contains("Fortran"))
        }
    }
}

@Suite struct NpzCheckpointTests {
    @Test(arguments: ["weights.npz", "weights-compressed.npz"])
    func paramsReadsNamedNpzFiles(file: String) throws {
        let path = PyTorchFixtures.path("npz/" + file)
        let checkpoint = try loadCheckpoint(path)
        #expect(checkpoint.format == .npz)
        #expect(checkpoint.config != nil, "config.json beside the archive")
        let result = try CLI.run(["params", path, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let json = jsonObject(result.stdout)
        #expect(json["named_parameters"] as? Int == 39)
        #expect(json["total_parameters"] as? Int == 19_008)
        #expect((json["schema"] as? [String: Any])?["ok"] as? Bool == true)
        let ignored = (json["ignored"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
        #expect(ignored.contains("extra.bool"))
    }

    @Test func paramsRefusesBrokenNpzWithOneLine() throws {
        let bytes = try PyTorchFixtures.bytes("npz/weights.npz")
        let path = try temporaryFile(replacing("'fortran_order': False", with: "'fortran_order': True ", in: bytes), name: "weights.npz")
        expectInputError(try CLI.run(["params", path]), naming: path, containing: "Fortran")
    }
}

@Suite struct NpzMutationTests {
    @Test(arguments: ["weights.npz", "weights-compressed.npz"])
    func mutatedArchivesNeverTrap(file: String) throws {
        let original = try PyTorchFixtures.bytes("npz/" + file)
        expectMutationsRefusedCleanly(original, count: 150, seed: 7) { bytes, storage in
            let tensors = try NpzReader.read(bytes: bytes, storage: storage, path: "mutated.npz")
            for tensor in tensors where tensor.byteCount > 0 { _ = tensor.data[0] ^ tensor.data[tensor.byteCount - 1] }
        }
    }
}
