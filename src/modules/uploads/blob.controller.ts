import { Controller, Get, Headers, Query, Res, StreamableFile } from '@nestjs/common';
import { ApiOkResponse, ApiPartialContentResponse, ApiQuery, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { Public } from '../../common/auth/auth.decorators';
import { ApiErrors } from '../../common/errors/api-errors.decorator';
import { FilesService } from './files.service';
import { RangeNotSatisfiable } from './range';

// Local-disk storage only: serves a file to whoever holds an unexpired, untampered signed URL.
@Controller('chat/blob')
@Public()
@ApiTags('files')
export class BlobController {
  constructor(private readonly files: FilesService) {}

  @Get()
  @ApiQuery({
    name: 'signed',
    required: true,
    description: 'the signed parameters of a /chat/files link (opaque)',
    style: 'form',
    explode: true,
    schema: { type: 'object', additionalProperties: { type: 'string' } },
  })
  @ApiOkResponse({
    description: 'the bytes',
    content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } },
  })
  @ApiPartialContentResponse({
    description: 'a byte range',
    content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } },
  })
  @ApiErrors(
    [403, 'FORBIDDEN: the link is not valid or has expired'],
    404,
    [413, 'FILE_TOO_LARGE: stored unscanned, and larger than the scanner takes'],
    [416, 'INVALID_MESSAGE: the range starts past the end (Content-Range: bytes */size)'],
    [422, 'FILE_REJECTED: stored unscanned, and malware was found in it now'],
    [503, 'SCANNER_UNAVAILABLE or STORAGE_UNAVAILABLE: it could not be scanned now'],
  )
  async blob(
    @Query() query: Record<string, unknown>,
    @Headers('range') range: string | undefined,
    @Res({ passthrough: true }) response: Response,
  ): Promise<StreamableFile> {
    const blob = await this.files.openSignedBlob(query, range).catch((error: unknown) => {
      // where the file ends, for the client's next range (RFC 9110 §14.4)
      if (error instanceof RangeNotSatisfiable) response.setHeader('Content-Range', `bytes */${error.size}`);
      throw error;
    });
    response.status(blob.status);
    response.set({
      ...blob.headers,
      // uploaded bytes never run as a page of this origin, and the signed URL never leaks onwards
      'X-Content-Type-Options': 'nosniff',
      'Content-Security-Policy': "default-src 'none'; sandbox",
      'Referrer-Policy': 'no-referrer',
      'Cache-Control': 'private, max-age=60',
    });
    return new StreamableFile(blob.stream);
  }
}
