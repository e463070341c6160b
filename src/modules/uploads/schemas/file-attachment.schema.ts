import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';

// One record per file and per session or room (`room:<id>`) whose messages show it: the assisting
// admin of each of those sessions, and the members of each of those rooms, may read the file, and a
// session's export links it. Separate documents, not an array on the file: FerretDB 1.24 applies an
// update as an unlocked read-modify-write, so two sessions attaching one file at once each wrote a
// list without the other's entry (docs/protocol.md, "Uploads and files"). The `_id` is the pair, so
// attaching twice under one scope is one record.
@Schema({ collection: 'file_attachments', versionKey: false })
export class FileAttachment {
  @Prop({ type: String, required: true }) _id!: string;
  @Prop({ required: true }) file_id!: string;
  @Prop({ required: true }) scope!: string;
  @Prop({ required: true }) owner_id!: string;
  @Prop({ required: true }) attached_at!: Date;
  // a new value at every attach under the scope, so a delete of the file sees an attach that came
  // while it judged, even under a scope that showed the file already (FilesRepository.markDeleting)
  @Prop({ type: String }) mark?: string;
}
export const FileAttachmentSchema = SchemaFactory.createForClass(FileAttachment);
FileAttachmentSchema.index({ file_id: 1, scope: 1 });
// a purged session's records (SessionFiles.heldBy)
FileAttachmentSchema.index({ scope: 1 });

export function fileAttachmentKey(fileId: string, scope: string): string {
  return JSON.stringify([fileId, scope]);
}
