import Testing
@testable import BertCheck

@Suite struct HalfPrecisionTests {
    @Test func halfConversionIsExact() {
        #expect(halfToFloat(0x3C00) == 1.0)
        #expect(halfToFloat(0xC000) == -2.0)
        #expect(halfToFloat(0x7BFF) == 65504.0)
        #expect(halfToFloat(0x0001) == Float(bitPattern: 0x3380_0000)) // smallest subnormal, 2^-24
        #expect(halfToFloat(0x7C00) == .infinity)
        #expect(halfToFloat(0x7E00).isNaN)
        #expect(halfToFloat(0x8000).sign == .minus)
    }
}
