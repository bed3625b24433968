import Foundation
import Testing
@testable import BertCheck

@Suite struct PyTorchBinTests {
    /// The .bin reader must give exactly the tensors (names, order, dtypes, shapes, bytes) that
    /// the reference saved beside it as safetensors.
    func expectIdentical(_ directory: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [Tensor] {
        let tensors = try PyTorchBinReader.read(PyTorchFixtures.path(directory + "/pytorch_model.bin"))
        let expected = try expectedTensors(PyTorchFixtures.path(directory + "/expected.safetensors"))
        // safetensors sorts its header; the .bin keeps state-dict order.
        #expect(Set(tensors.map(\.name)) == Set(expected.map(\.name)), sourceLocation: sourceLocation)
        #expect(tensors.count == expected.count, sourceLocation: sourceLocation)
        let byName = Dictionary(uniqueKeysWithValues: tensors.map { ($0.name, $0) })
        for want in expected {
            guard let tensor = byName[want.name] else { continue }
            #expect(tensor.dtype.rawValue == want.dtype, "\(want.name) dtype", sourceLocation: sourceLocation)
            #expect(tensor.shape == want.shape, "\(want.name) shape", sourceLocation: sourceLocation)
            #expect(Array(tensor.data) == want.bytes, "\(want.name) bytes differ", sourceLocation: sourceLocation)
        }
        return tensors
    }

    func binProblem(_ bytes: [UInt8]) throws -> PyTorchBinProblem? {
        let path = try temporaryFile(bytes, name: "pytorch_model.bin")
        return problem(PyTorchBinProblem.self) { try PyTorchBinReader.read(path) }
    }

    /// A torch-like zip with a hand-made data.pkl and storages.
    func torchZip(pickle: [UInt8], storages: [String: [UInt8]], folder: String = "archive") -> [UInt8] {
        var builder = ZipBuilder()
        builder.add("\(folder)/data.pkl", pickle)
        builder.add("\(folder)/byteorder", Array("little".utf8))
        for (key, data) in storages.sorted(by: { $0.key < $1.key }) { builder.add("\(folder)/data/\(key)", data) }
        return builder.build()
    }

    func floats(_ values: [Float]) -> [UInt8] { values.flatMap { le($0.bitPattern) } }

    @Test func readsTorchSaveCheckpointExactly() throws {
        let tensors = try expectIdentical("tiny-bert")
        #expect(tensors.first?.name == "embeddings.word_embeddings.weight", "state-dict order")
        #expect(tensors.contains { $0.name == "pooler.dense.weight" })
        // Stored, aligned, contiguous: zero-copy slices of the mapped file.
        #expect(tensors.allSatisfy { $0.storage is MappedFile })
    }

    @Test func readsCheckpointWhoseFolderIsNotArchive() throws {
        let zip = try ZipArchive(path: PyTorchFixtures.path("named-prefix/pytorch_model.bin"))
        #expect(zip.entries.first?.name == "tiny_bert_export/data.pkl")
        _ = try expectIdentical("named-prefix")
    }

    @Test func tiedWeightsShareOneStorage() throws {
        let tensors = try expectIdentical("pretraining-tied")
        let byName = Dictionary(uniqueKeysWithValues: tensors.map { ($0.name, $0) })
        let decoder = try #require(byName["cls.predictions.decoder.weight"])
        let embeddings = try #require(byName["bert.embeddings.word_embeddings.weight"])
        #expect(decoder.data.baseAddress == embeddings.data.baseAddress)
        #expect(decoder.storage === embeddings.storage)
    }

    @Test func gathersStridedAndOffsetViews() throws {
        let tensors = try expectIdentical("views")
        // Transposed storage: gathered into owned memory. Offset slices of one flat storage: still zero-copy.
        #expect(tensors.contains { $0.storage is OwnedBytes })
        let slices = tensors.filter { $0.storage is MappedFile && $0.shape.count == 1 }
        #expect(slices.count > 2)
        #expect(Set(slices.map { $0.data.baseAddress }).count == slices.count, "each slice at its own offset")
    }

    @Test func readsEveryDtypeScalarsAndEmptyTensors() throws {
        let tensors = try expectIdentical("dtypes")
        let byName = Dictionary(uniqueKeysWithValues: tensors.map { ($0.name, $0) })
        #expect(byName["bf16"]?.dtype == .BF16)
        #expect(byName["bool"]?.dtype == .BOOL)
        #expect(byName["scalar"]?.shape == [])
        #expect(byName["scalar"]?.floats() == [2.5])
        #expect(byName["empty"]?.shape == [0, 3])
        #expect(byName["half_view"]?.shape == [2, 3])
        #expect(byName["parameter"]?.shape == [2, 5], "nn.Parameter via _rebuild_parameter")
    }

    @Test func readsPickleProtocolFour() throws {
        let zip = try ZipArchive(path: PyTorchFixtures.path("protocol4/pytorch_model.bin"))
        #expect(Array(try zip.contents(named: "archive/data.pkl").bytes.prefix(2)) == [0x80, 0x04])
        _ = try expectIdentical("protocol4")
    }

    @Test func readsDeflatedCheckpoint() throws {
        let tensors = try expectIdentical("deflated")
        #expect(tensors.allSatisfy { $0.storage is OwnedBytes })
    }

    @Test func refusesLegacyFormatWithResaveHint() throws {
        let path = PyTorchFixtures.path("legacy/pytorch_model.bin")
        do {
            _ = try PyTorchBinReader.read(path)
            Issue.record("legacy file accepted")
        } catch let error as FileError {
            #expect((error.problem as? PyTorchBinProblem) == .legacyFormat)
            #expect(error.oneLine.contains(path))
            #expect(error.oneLine.contains("torch >= 1.6"))
            #expect(error.oneLine.contains("safe_serialization=True"))
        }
        // Recognised by its first bytes, even when its float data happens to hold a zip signature.
        let legacy = try PyTorchFixtures.bytes("legacy/pytorch_model.bin")
        let disguised = legacy + le(UInt32(0x0605_4B50)) + [UInt8](repeating: 0, count: 18)
        #expect(try binProblem(disguised) == .legacyFormat)
    }

    @Test func refusesZipWithoutDataPickle() throws {
        let bytes = try PyTorchFixtures.bytes("tiny-bert/pytorch_model.bin")
        #expect(try binProblem(replacing("archive/data.pkl", with: "archive/data.pkx", in: bytes)) == .missingDataPickle)
        var builder = ZipBuilder()
        builder.add("weights.npy", [1, 2, 3])
        #expect(try binProblem(builder.build()) == .missingDataPickle)
    }

    @Test func refusesSeveralDataPickles() throws {
        var builder = ZipBuilder()
        builder.add("a/data.pkl", [0x80, 0x02, 0x7D, 0x2E])
        builder.add("b/data.pkl", [0x80, 0x02, 0x7D, 0x2E])
        #expect(try binProblem(builder.build()) == .severalDataPickles(["a/data.pkl", "b/data.pkl"]))
    }

    @Test func refusesMissingStorageEntry() throws {
        let bytes = try PyTorchFixtures.bytes("tiny-bert/pytorch_model.bin")
        #expect(try binProblem(replacing("archive/data/0", with: "archive/data/X", in: bytes))
            == .missingStorage(key: "0", entry: "archive/data/0"))
    }

    @Test func refusesShortStorageEntry() throws {
        let pickle = PickleBuilder.stateDict([(name: "w", storage: "FloatStorage", key: "0", count: 4, offset: 0, shape: [4], strides: [1])])
        #expect(try binProblem(torchZip(pickle: pickle, storages: ["0": floats([1, 2, 3])])) == .storageTooShort(key: "0", needed: 16, actual: 12))
        let huge = PickleBuilder.stateDict([(name: "w", storage: "DoubleStorage", key: "0", count: Int(Int32.max), offset: 0, shape: [1], strides: [1])])
        guard case .storageTooShort? = try binProblem(torchZip(pickle: huge, storages: ["0": floats([1, 2])])) else {
            Issue.record("huge declared storage accepted"); return
        }
    }

    @Test func refusesTensorOutsideItsStorage() throws {
        let storages = ["0": floats([1, 2, 3, 4])]
        let past = PickleBuilder.stateDict([(name: "w", storage: "FloatStorage", key: "0", count: 4, offset: 2, shape: [3], strides: [1])])
        #expect(try binProblem(torchZip(pickle: past, storages: storages)) == .tensorOutsideStorage(name: "w", lastElement: 4, storageElements: 4))
        let strided = PickleBuilder.stateDict([(name: "w", storage: "FloatStorage", key: "0", count: 4, offset: 0, shape: [2, 2], strides: [1, 3])])
        #expect(try binProblem(torchZip(pickle: strided, storages: storages)) == .tensorOutsideStorage(name: "w", lastElement: 4, storageElements: 4))
        let overflow = PickleBuilder.stateDict([(name: "w", storage: "FloatStorage", key: "0", count: 4, offset: 0, shape: [3, 3], strides: [Int(Int32.max), Int(Int32.max)])])
        guard case .tensorOutsideStorage? = try binProblem(torchZip(pickle: overflow, storages: storages)) else {
            Issue.record("huge strides accepted"); return
        }
    }

    @Test func readsHandMadeStridedViewAndSharedStorage() throws {
        let pickle = PickleBuilder.stateDict([
            (name: "t", storage: "FloatStorage", key: "0", count: 6, offset: 0, shape: [3, 2], strides: [1, 3]),
            (name: "row", storage: "FloatStorage", key: "0", count: 6, offset: 3, shape: [3], strides: [1]),
            (name: "one", storage: "FloatStorage", key: "0", count: 6, offset: 5, shape: [1, 1], strides: [99, 7]),
        ])
        let path = try temporaryFile(torchZip(pickle: pickle, storages: ["0": floats([0, 1, 2, 3, 4, 5])], folder: "x"))
        let tensors = try PyTorchBinReader.read(path)
        #expect(tensors.map(\.name) == ["t", "row", "one"])
        #expect(tensors[0].floats() == [0, 3, 1, 4, 2, 5])
        #expect(tensors[1].floats() == [3, 4, 5])
        #expect(tensors[2].floats() == [5])
    }

    @Test func gathersBroadcastViewsWithinALimit() throws {
        let storages = ["0": floats([7, 8])]
        let expanded = PickleBuilder.stateDict([(name: "e", storage: "FloatStorage", key: "0", count: 2, offset: 0, shape: [3, 2], strides: [0, 1])])
        let path = try temporaryFile(torchZip(pickle: expanded, storages: storages))
        #expect(try PyTorchBinReader.read(path).first?.floats() == [7, 8, 7, 8, 7, 8])
        // An 8-byte storage repeated into 25M elements (100 MB) from a file of a few hundred bytes.
        let bomb = PickleBuilder.stateDict([(name: "b", storage: "FloatStorage", key: "0", count: 2, offset: 0, shape: [5000, 5000], strides: [0, 0])])
        #expect(try binProblem(torchZip(pickle: bomb, storages: storages))
            == .viewLargerThanStorage(name: "b", elements: 25_000_000, storageElements: 2))
    }

    @Test func refusesStorageDeclaredWithTwoTypes() throws {
        let pickle = PickleBuilder.stateDict([
            (name: "a", storage: "FloatStorage", key: "0", count: 2, offset: 0, shape: [2], strides: [1]),
            (name: "b", storage: "IntStorage", key: "0", count: 2, offset: 0, shape: [2], strides: [1]),
        ])
        #expect(try binProblem(torchZip(pickle: pickle, storages: ["0": floats([1, 2])])) == .storageTypeConflict(key: "0"))
    }

    @Test func refusesHostilePickleInsideCheckpoint() throws {
        var p = PickleBuilder()
        p.global("posix", "system"); p.string("touch /tmp/bertcheck-pwned"); p.op(0x85); p.op(0x52); p.stop()
        let path = try temporaryFile(torchZip(pickle: p.bytes, storages: [:]))
        do {
            _ = try PyTorchBinReader.read(path)
            Issue.record("hostile pickle accepted")
        } catch {
            #expect(error.oneLine.contains(path))
            #expect(error.oneLine.contains("posix.system"))
            #expect(error.oneLine.contains("archive/data.pkl"))
        }
        #expect(!FileManager.default.fileExists(atPath: "/tmp/bertcheck-pwned"))
    }

    @Test func refusesNonTensorValuesAndNonDictRoots() throws {
        #expect(try binProblem(torchZip(pickle: [0x80, 0x02, 0x5D, 0x2E], storages: [:])) == .notAStateDict(found: "a list"))
        var p = PickleBuilder()
        p.op(0x7D); p.string("epoch"); p.int(3); p.op(0x73); p.stop()
        #expect(try binProblem(torchZip(pickle: p.bytes, storages: [:])) == .notATensor(name: "epoch", found: "an int"))
    }

    @Test func refusesBigEndianCheckpoints() throws {
        var builder = ZipBuilder()
        builder.add("archive/data.pkl", [0x80, 0x02, 0x7D, 0x2E])
        builder.add("archive/byteorder", Array("big".utf8))
        #expect(try binProblem(builder.build()) == .bigEndian("big"))
    }

    @Test func refusesCorruptedDataPickleByChecksum() throws {
        var bytes = try PyTorchFixtures.bytes("tiny-bert/pytorch_model.bin")
        // Flip a byte of a key string inside data.pkl (stored; the entry CRC no longer matches).
        let marker = Array("embeddings.word_embeddings.weight".utf8)
        let at = try #require((0..<bytes.count - marker.count).first { Array(bytes[$0..<$0 + marker.count]) == marker })
        bytes[at] = UInt8(ascii: "E")
        let path = try temporaryFile(bytes)
        guard case .crcMismatch? = problem(ZipProblem.self, { try PyTorchBinReader.read(path) }) else {
            Issue.record("corrupted data.pkl accepted"); return
        }
    }
}

@Suite struct PyTorchBinMutationTests {
    @Test(.tags(.slow), .skippedInFastLoop, arguments: ["tiny-bert", "deflated", "views", "dtypes"])
    func mutatedCheckpointsNeverTrap(directory: String) throws {
        let original = try PyTorchFixtures.bytes(directory + "/pytorch_model.bin")
        expectMutationsRefusedCleanly(original, count: 150, seed: UInt64(directory.utf8.count)) { bytes, storage in
            let tensors = try PyTorchBinReader.read(bytes: bytes, storage: storage, path: "mutated.bin")
            // Touch both ends of what the reader returned: it must lie inside live memory.
            for tensor in tensors where tensor.byteCount > 0 { _ = tensor.data[0] ^ tensor.data[tensor.byteCount - 1] }
        }
    }

    @Test func mutatedPicklesNeverTrap() throws {
        let zip = try ZipArchive(path: PyTorchFixtures.path("pretraining-tied/pytorch_model.bin"))
        let pickle = Array(try zip.contents(named: "archive/data.pkl").bytes)
        var random = SplitMix64(state: 42)
        for _ in 0..<500 {
            var bytes = pickle
            for _ in 0..<Int.random(in: 1...3, using: &random) {
                bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
            }
            do {
                _ = try bytes.withUnsafeBytes { try Pickle.load($0) }
            } catch is PickleProblem {
            } catch {
                Issue.record("not a PickleProblem: \(error)")
            }
        }
    }
}

/// The .bin checkpoints through the whole tool: `loadCheckpoint` dispatch, `bertcheck params`,
/// and the forward pass.
@Suite struct PyTorchCheckpointCLITests {
    @Test(arguments: ["tiny-bert", "named-prefix", "pretraining-tied", "views", "deflated"])
    func paramsReadsBinCheckpoints(directory: String) throws {
        let path = PyTorchFixtures.path(directory)
        #expect(try loadCheckpoint(path).format == .pytorchZip)
        let result = try CLI.run(["params", path, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.isEmpty)
        let json = jsonObject(result.stdout)
        #expect(json["named_parameters"] as? Int == 39)
        // vocab 64, hidden 32, 24 positions, 2 types, 2 layers, intermediate 48, pooler.
        #expect(json["total_parameters"] as? Int == 19_008)
        #expect((json["schema"] as? [String: Any])?["ok"] as? Bool == true)
        let ignored = (json["ignored"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
        let head = ((json["head"] as? [String: Any])?["parameters"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
        #expect(ignored.isEmpty)
        if directory == "pretraining-tied" {
            // The tied decoder is part of the pre-training head.
            #expect(head.contains("cls.predictions.decoder.weight"))
        } else {
            #expect(head.isEmpty)
        }
        let human = try CLI.run(["params", path])
        #expect(human.stdout.hasPrefix("The BERT model has 39 different named parameters.\n"))
    }

    @Test func paramsRefusesLegacyBinWithOneLine() throws {
        let path = PyTorchFixtures.path("legacy")
        let result = try CLI.run(["params", path])
        expectInputError(result, naming: path + "/pytorch_model.bin", containing: "torch.save(state_dict, path)")
        #expect(result.stderr.contains("safe_serialization=True"))
    }

    /// A model directory holding `bin` as pytorch_model.bin beside tiny-bert's config.json.
    func modelDirectory(bin: [UInt8]) throws -> String {
        let dir = TestPaths.temporaryDirectory()
        try Data(bin).write(to: dir.appendingPathComponent("pytorch_model.bin"))
        try FileManager.default.copyItem(atPath: PyTorchFixtures.path("tiny-bert/config.json"),
                                         toPath: dir.appendingPathComponent("config.json").path)
        return dir.path
    }

    @Test func paramsRefusesHostileAndBrokenBins() throws {
        var p = PickleBuilder()
        p.global("builtins", "eval"); p.string("__import__('os').system('touch /tmp/bertcheck-pwned-cli')"); p.op(0x85); p.op(0x52); p.stop()
        var builder = ZipBuilder()
        builder.add("archive/data.pkl", p.bytes)
        let hostile = try modelDirectory(bin: builder.build())
        expectInputError(try CLI.run(["params", hostile]), naming: hostile + "/pytorch_model.bin", containing: "builtins.eval")
        #expect(!FileManager.default.fileExists(atPath: "/tmp/bertcheck-pwned-cli"))

        let good = try PyTorchFixtures.bytes("tiny-bert/pytorch_model.bin")
        let truncated = try modelDirectory(bin: Array(good[..<(good.count - 100)]))
        expectInputError(try CLI.run(["params", truncated]), naming: truncated + "/pytorch_model.bin", containing: "truncated")
        let noStorage = try modelDirectory(bin: replacing("archive/data/3", with: "archive/data/Z", in: good))
        expectInputError(try CLI.run(["params", noStorage, "--json"]), naming: noStorage + "/pytorch_model.bin", containing: "archive/data/3")
    }

    /// The forward pass over the .bin weights equals the forward pass over the reference's own
    /// safetensors copy of them, bit for bit (zero-copy, gathered, inflated and tied storages).
    @Test(arguments: ["tiny-bert", "pretraining-tied", "views", "deflated"])
    func forwardPassMatchesSafetensorsTwin(directory: String) throws {
        let twin = TestPaths.temporaryDirectory()
        try FileManager.default.copyItem(atPath: PyTorchFixtures.path(directory + "/expected.safetensors"),
                                         toPath: twin.appendingPathComponent("model.safetensors").path)
        try FileManager.default.copyItem(atPath: PyTorchFixtures.path(directory + "/config.json"),
                                         toPath: twin.appendingPathComponent("config.json").path)
        let batch = Batch(batch: 2, seq: 5, inputIds: [2, 17, 33, 63, 3, 2, 9, 3, 0, 0],
                          attentionMask: [1, 1, 1, 1, 1, 1, 1, 1, 0, 0], tokenTypeIds: [0, 0, 0, 1, 1, 0, 0, 0, 0, 0])
        let fromBin = try BertModel(checkpoint: loadCheckpoint(PyTorchFixtures.path(directory)), threads: 1).forward(batch)
        let fromSafetensors = try BertModel(checkpoint: loadCheckpoint(twin.path), threads: 1).forward(batch)
        #expect(fromBin.lastHiddenState == fromSafetensors.lastHiddenState)
        #expect(fromBin.poolerOutput == fromSafetensors.poolerOutput)
        #expect(fromBin.lastHiddenState.allSatisfy { $0.isFinite })
    }
}
