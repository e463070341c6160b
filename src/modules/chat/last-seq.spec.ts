import fc from 'fast-check';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import { lastSeqOf } from './chat.service';

// admin_join's metadata.last_seq (docs/protocol.md, "Takeover handoff")
describe(lastSeqOf.name, () => {
  it('should take any whole number of 0 or more and no last_seq at all', () => {
    fc.assert(
      fc.property(fc.nat({ max: Number.MAX_SAFE_INTEGER }), (seq) => {
        expect(lastSeqOf({ resume: true, last_seq: seq })).toBe(seq);
      }),
    );
    expect(lastSeqOf(undefined)).toBeUndefined();
    expect(lastSeqOf({ resume: true })).toBeUndefined();
  });

  it('should refuse anything else with INVALID_MESSAGE naming the field', () => {
    const notWhole = fc.oneof(
      fc.integer({ max: -1 }),
      fc.double().filter((value) => !Number.isSafeInteger(value) || value < 0),
      fc.string(),
      fc.boolean(),
      fc.constant(null),
      fc.array(fc.nat()),
      fc.object(),
    );
    fc.assert(
      fc.property(notWhole, (value) => {
        let thrown: unknown;
        try {
          lastSeqOf({ last_seq: value });
        } catch (error) {
          thrown = error;
        }
        expect(thrown).toBeInstanceOf(DomainException);
        expect((thrown as DomainException).code).toBe(ErrorCode.INVALID_MESSAGE);
        expect((thrown as DomainException).message).toContain('last_seq');
      }),
    );
  });
});
