import 'reflect-metadata';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import fc from 'fast-check';
import { DomainException } from '../../../common/errors/domain.exception';
import {
  AdminSessionsQueryDto,
  MAX_PAGE_SIZE,
  SESSION_SORTS,
  toListQuery,
  toMetricsPeriod,
} from './admin-query.dto';

// What the global ValidationPipe does with a query string: transform, then validate.
function validate(query: Record<string, string>) {
  const dto = plainToInstance(AdminSessionsQueryDto, query);
  const errors = validateSync(dto, { whitelist: true, forbidNonWhitelisted: true });
  return { dto, errors };
}

const date = fc
  .date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true })
  .map((value) => value.toISOString());

const validQuery = fc.record(
  {
    user_id: fc.string({ minLength: 1, maxLength: 40 }),
    status: fc.constantFrom('active', 'ended'),
    admin_assisted: fc.constantFrom('true', 'false'),
    help_requested: fc.constantFrom('true', 'false'),
    from: date,
    to: date,
    sort: fc.constantFrom(...SESSION_SORTS),
    order: fc.constantFrom('asc', 'desc'),
    page: fc.integer({ min: 1, max: 1000 }).map(String),
    limit: fc.integer({ min: 1, max: MAX_PAGE_SIZE }).map(String),
  },
  { requiredKeys: [] },
);

describe('admin sessions query', () => {
  it('should accept every well-formed query and turn it into the repository query it says', () => {
    fc.assert(
      fc.property(validQuery, (query) => {
        const { dto, errors } = validate(query);
        expect(errors).toEqual([]);
        if (query.from && query.to && query.from > query.to) {
          expect(() => toListQuery(dto)).toThrow(DomainException);
          return;
        }
        const result = toListQuery(dto);
        expect(result.sort).toBe(query.sort ?? 'start_time');
        expect(result.order).toBe(query.order ?? 'desc');
        expect(result.page).toBe(query.page ? Number(query.page) : 1);
        expect(result.limit).toBe(query.limit ? Number(query.limit) : 20);
        expect(result.filter.userId).toBe(query.user_id);
        expect(result.filter.active).toBe(query.status === undefined ? undefined : query.status === 'active');
        expect(result.filter.adminAssisted).toBe(
          query.admin_assisted === undefined ? undefined : query.admin_assisted === 'true',
        );
        expect(result.filter.from?.toISOString()).toBe(query.from);
      }),
      { numRuns: 400 },
    );
  });

  it('should reject any value outside a closed set, and out-of-range pages and limits', () => {
    const field = fc.constantFrom('status', 'admin_assisted', 'help_requested', 'sort', 'order');
    const allowed: Record<string, string[]> = {
      status: ['active', 'ended'],
      admin_assisted: ['true', 'false'],
      help_requested: ['true', 'false'],
      sort: [...SESSION_SORTS],
      order: ['asc', 'desc'],
    };
    fc.assert(
      fc.property(field, fc.string({ maxLength: 20 }), (name, value) => {
        const { errors } = validate({ [name]: value });
        expect(errors.length === 0).toBe(allowed[name].includes(value));
      }),
      { numRuns: 400 },
    );
    const bads: Array<Record<string, string>> = [
      { page: '0' },
      { page: '1.5' },
      { page: 'x' },
      { limit: '0' },
      { limit: '1.5' },
      { limit: '1e309' },
      { from: 'now' },
    ];
    for (const bad of bads) expect(validate(bad).errors).not.toEqual([]);
    expect(validate({ colour: 'blue' }).errors[0].constraints).toHaveProperty('whitelistValidation');
  });

  it('should answer a page larger than the most with the most, any whole number past it', () => {
    fc.assert(
      fc.property(fc.integer({ min: MAX_PAGE_SIZE + 1, max: Number.MAX_SAFE_INTEGER }), (limit) => {
        const { errors, dto } = validate({ limit: String(limit) });
        expect(errors).toEqual([]);
        expect(dto.limit).toBe(MAX_PAGE_SIZE);
      }),
      { numRuns: 200 },
    );
    expect(validate({ limit: String(MAX_PAGE_SIZE) }).dto.limit).toBe(MAX_PAGE_SIZE);
    expect(validate({ limit: '7' }).dto.limit).toBe(7);
  });

  it('should default the metrics period to the 30 days before now', () => {
    const now = new Date('2024-06-30T12:00:00.000Z');
    const { from, to } = toMetricsPeriod({}, now);
    expect(to).toEqual(now);
    expect(now.getTime() - from.getTime()).toBe(30 * 86_400_000);
    expect(toMetricsPeriod({ to: '2024-06-01T00:00:00Z' }, now).from.toISOString()).toBe(
      '2024-05-02T00:00:00.000Z',
    );
    expect(() => toMetricsPeriod({ from: '2024-07-01T00:00:00Z' }, now)).toThrow(
      '"from" must not be after "to".',
    );
  });
});
